using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using H3.CodeFixes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace H3.Generator.Tests;

/// <summary>
/// The "make partial" code fix of H3001/H3002 (H3.CodeFixes), driven the way the IDE drives it: the analyzer's
/// diagnostic goes into a <see cref="CodeFixContext"/> on a workspace document, and the registered action's
/// changed document must be the fixed source, on which the analyzer then reports no error.
/// </summary>
public class CodeFixTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        {
            "H3001",
            "using H3;\n\n[H3Model(EmbedDim = 3, Hidden = 4)]\npublic sealed class Encoder { }\n",
            "using H3;\n\n[H3Model(EmbedDim = 3, Hidden = 4)]\npublic sealed partial class Encoder { }\n"
        },
        {
            "H3001",
            "using H3;\n\nnamespace N\n{\n    // the model\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    class Encoder { }\n}\n",
            "using H3;\n\nnamespace N\n{\n    // the model\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    partial class Encoder { }\n}\n"
        },
        {
            "H3002",
            "using H3;\n\ninternal static class Outer\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    internal partial class Encoder { }\n}\n",
            "using H3;\n\ninternal static partial class Outer\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    internal partial class Encoder { }\n}\n"
        },
        {
            "H3002",
            "using H3;\n\nrecord struct Outer(int X)\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    partial class Encoder { }\n}\n",
            "using H3;\n\npartial record struct Outer(int X)\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    partial class Encoder { }\n}\n"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Make_partial_fixes_the_declaration(string id, string before, string after)
    {
        using var workspace = new AdhocWorkspace();
        Document document = workspace.CurrentSolution
            .AddProject("Model", "Model", LanguageNames.CSharp)
            .WithCompilationOptions(GeneratorHarness.CompilationOptions)
            .WithParseOptions(GeneratorHarness.ParseOptions)
            .AddMetadataReferences(GeneratorHarness.References)
            .AddDocument("Model.cs", SourceText.From(before));

        Diagnostic diagnostic = Assert.Single(await AnalyzeAsync(document), d => d.Id == id);
        var provider = new MakePartialCodeFix();
        Assert.Contains(id, provider.FixableDiagnosticIds);

        var actions = new List<CodeAction>();
        var context = new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None);
        await provider.RegisterCodeFixesAsync(context);
        CodeAction fix = Assert.Single(actions);
        Assert.StartsWith("Make '", fix.Title, System.StringComparison.Ordinal);

        ImmutableArray<CodeActionOperation> operations = await fix.GetOperationsAsync(CancellationToken.None);
        Solution changed = Assert.Single(operations.OfType<ApplyChangesOperation>()).ChangedSolution;
        Document fixedDocument = changed.GetDocument(document.Id)!;
        Assert.Equal(after, (await fixedDocument.GetTextAsync()).ToString());

        // The fixed code has no H3 error left (and the generator now generates the model).
        Assert.DoesNotContain(await AnalyzeAsync(fixedDocument), d => d.Id.StartsWith("H3", System.StringComparison.Ordinal) && d.Severity == DiagnosticSeverity.Error);
        Assert.NotEmpty(GeneratorHarness.Run(after).Sources);
    }

    [Fact]
    public async Task No_fix_is_offered_for_other_H3_errors()
    {
        using var workspace = new AdhocWorkspace();
        Document document = workspace.CurrentSolution
            .AddProject("Model", "Model", LanguageNames.CSharp)
            .WithCompilationOptions(GeneratorHarness.CompilationOptions)
            .AddMetadataReferences(GeneratorHarness.References)
            .AddDocument("Model.cs", SourceText.From("using H3;\n[H3Model(EmbedDim = 3, Hidden = 0)]\npublic partial class Encoder { }\n"));
        Diagnostic diagnostic = Assert.Single(await AnalyzeAsync(document), d => d.Id == "H3011");
        Assert.DoesNotContain(diagnostic.Id, new MakePartialCodeFix().FixableDiagnosticIds);
    }

    private static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(Document document)
    {
        Compilation compilation = (await document.Project.GetCompilationAsync())!;
        return AnalyzerHarness.Analyze(compilation).H3.ToImmutableArray();
    }
}
