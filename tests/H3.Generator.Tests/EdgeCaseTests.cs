using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace H3.Generator.Tests;

/// <summary>
/// Declarations at the edges of what C# allows: where the model is declared, what surrounds it, and names that
/// could clash with generated ones. Each must generate code that compiles cleanly, or be skipped without a throw.
/// </summary>
public class EdgeCaseTests
{
    private const string Small = "[global::H3.H3Model(EmbedDim = 3, Hidden = 4, State = 2, ConvSize = 1, Layers = 1, WindowSize = 2)]";

    public static TheoryData<string, string, string[]> Compiling => new()
    {
        { "inside a ref struct", $"ref partial struct Outer {{ {Small} partial class M {{ }} }}", new[] { "Outer.M.g.cs" } },
        { "inside a readonly struct", $"readonly partial struct Outer {{ {Small} partial class M {{ }} }}", new[] { "Outer.M.g.cs" } },
        { "inside an interface", $"partial interface IOuter {{ {Small} partial class M {{ }} }}", new[] { "IOuter.M.g.cs" } },
        { "inside a record", $"partial record Outer(int X) {{ {Small} partial class M {{ }} }}", new[] { "Outer.M.g.cs" } },
        { "inside a record struct", $"partial record struct Outer(int X) {{ {Small} partial class M {{ }} }}", new[] { "Outer.M.g.cs" } },
        { "model with a base class", $"public class Base {{ public int Value; }} {Small} public partial class M : Base {{ }}", new[] { "M.g.cs" } },
        {
            "same name in two namespaces",
            $"namespace X1 {{ {Small} partial class M {{ }} }} namespace X2 {{ {Small} partial class M {{ }} }}",
            new[] { "X1.M.g.cs", "X2.M.g.cs" }
        },
        {
            "same name in two containing types",
            $"partial class O1 {{ {Small} partial class M {{ }} }} partial class O2 {{ {Small} partial class M {{ }} }}",
            new[] { "O1.M.g.cs", "O2.M.g.cs" }
        },
        {
            "user type where the kernels live",
            $"namespace H3.Generated {{ class MKernels {{ }} }} {Small} partial class M {{ }}",
            new[] { "M.g.cs" }
        },
        {
            "user members named like generated locals",
            $"{Small} partial class M {{ public int p = 1, b = 2, scratch = 3, input = 4, output = 5, batch = 6; }}",
            new[] { "M.g.cs" }
        },
        {
            "namespace and types that shadow H3 and System",
            $"namespace N.H3 {{ }} namespace N.System {{ class Span {{ }} }} namespace N {{ class Span {{ }} class MathF {{ }} {Small} partial class M {{ }} }}",
            new[] { "N.M.g.cs" }
        },
        {
            "attribute through a using alias",
            "using Model = H3.H3ModelAttribute; namespace N { [Model(EmbedDim = 3, Hidden = 4, State = 2, ConvSize = 1, Layers = 1, WindowSize = 2)] partial class M { } }",
            new[] { "N.M.g.cs" }
        },
        {
            "model declared in two partial parts",
            $"namespace N {{ {Small} partial class M {{ }} partial class M {{ public int Extra => 1; }} }}",
            new[] { "N.M.g.cs" }
        },
    };

    [Theory]
    [MemberData(nameof(Compiling))]
    public void Edge_declaration_generates_code_that_compiles(string name, string source, string[] hintNames)
    {
        GeneratorRunOutput run = GeneratorHarness.Run(source);
        Assert.Equal(hintNames, run.Sources.Select(s => s.HintName).OrderBy(h => h, System.StringComparer.Ordinal));
        ImmutableArray<Diagnostic> diagnostics = GeneratorHarness.WarningsAndErrors(run.Output);
        Assert.True(diagnostics.IsEmpty, $"{name}:\n{GeneratorHarness.Describe(diagnostics)}");
    }

    [Fact]
    public void Attribute_on_two_parts_is_skipped_without_a_throw()
    {
        // CS0579 (duplicate attribute) is the user's error; the generator must not add a crash (CS8785) to it.
        string source = $"{Small} partial class Twice {{ }} {Small} partial class Twice {{ }} {Small} partial class Other {{ }}";
        GeneratorRunOutput run = GeneratorHarness.Run(source);
        Assert.Equal("Other.g.cs", Assert.Single(run.Sources).HintName);
    }

    // The three below fail against the current generator (reported with the fix: H3ModelParser.Parse).

    [Fact]
    public void Keyword_in_the_namespace_generates_and_compiles()
    {
        GeneratorRunOutput run = GeneratorHarness.Run($"namespace @event.Models {{ {Small} partial class M {{ }} }}");
        Assert.Equal("event.Models.M.g.cs", Assert.Single(run.Sources).HintName);
        ImmutableArray<Diagnostic> diagnostics = GeneratorHarness.WarningsAndErrors(run.Output);
        Assert.True(diagnostics.IsEmpty, GeneratorHarness.Describe(diagnostics));
    }

    [Fact]
    public void Keyword_type_name_generates_code_that_compiles()
    {
        GeneratorRunOutput run = GeneratorHarness.Run($"namespace N {{ partial class @class {{ {Small} partial class @int {{ }} }} }}");
        Assert.Single(run.Sources);
        ImmutableArray<Diagnostic> diagnostics = GeneratorHarness.WarningsAndErrors(run.Output);
        Assert.True(diagnostics.IsEmpty, GeneratorHarness.Describe(diagnostics));
    }

    [Fact]
    public void File_local_model_is_skipped()
    {
        string source = $$"""
            {{Small}} file partial class FileModel { }
            file static class Use { public static int Run() => FileModel.ParameterCount; }
            """;
        GeneratorRunOutput run = GeneratorHarness.Run(source);
        Assert.Empty(run.Sources);
    }
}
