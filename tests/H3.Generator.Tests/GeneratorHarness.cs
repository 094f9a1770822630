using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace H3.Generator.Tests;

/// <summary>
/// Drives <see cref="H3ModelGenerator"/> over in-memory sources with a hermetic reference set:
/// Basic.Reference.Assemblies.Net100 + the real H3.Runtime.dll + System.Numerics.Tensors.dll
/// (NOTES-ecosystem.md §2.2/§2.5). No packages are downloaded at test time.
/// </summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>Nullable on, default warning level: what a consumer project sees.</summary>
    public static readonly CSharpCompilationOptions CompilationOptions =
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
            .WithDeterministic(true);

    public static readonly ImmutableArray<MetadataReference> References = BuildReferences();

    private static ImmutableArray<MetadataReference> BuildReferences()
    {
        var list = new List<MetadataReference>(Basic.Reference.Assemblies.Net100.References.All);
        var names = new HashSet<string>(
            Basic.Reference.Assemblies.Net100.References.All.Select(r => Path.GetFileNameWithoutExtension(r.FilePath ?? "")),
            StringComparer.OrdinalIgnoreCase);
        list.Add(MetadataReference.CreateFromFile(typeof(H3ModelAttribute).Assembly.Location));
        // System.Numerics.Tensors is a NuGet package, not part of the shared framework's reference set.
        if (!names.Contains("System.Numerics.Tensors"))
            list.Add(MetadataReference.CreateFromFile(typeof(System.Numerics.Tensors.TensorPrimitives).Assembly.Location));
        return list.ToImmutableArray();
    }

    public static SyntaxTree Parse(string source, string path = "Model.cs") =>
        CSharpSyntaxTree.ParseText(source, ParseOptions, path);

    public static CSharpCompilation CreateCompilation(params SyntaxTree[] trees) =>
        CSharpCompilation.Create("H3GeneratedTest_" + Guid.NewGuid().ToString("N"), trees, References, CompilationOptions);

    public static CSharpCompilation CreateCompilation(params string[] sources) =>
        CreateCompilation(sources.Select((s, i) => Parse(s, $"Model{i}.cs")).ToArray());

    public static GeneratorDriver CreateDriver(bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            new[] { new H3ModelGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator once. Fails if it threw or reported anything (e.g. CS8785).</summary>
    public static GeneratorRunOutput Run(params string[] sources)
    {
        CSharpCompilation input = CreateCompilation(sources);
        GeneratorDriver driver = CreateDriver().RunGeneratorsAndUpdateCompilation(input, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        GeneratorDriverRunResult run = driver.GetRunResult();
        GeneratorRunResult result = run.Results.Single();
        Assert.Null(result.Exception);
        Assert.Empty(diagnostics);
        Assert.Empty(run.Diagnostics);
        return new GeneratorRunOutput(input, (CSharpCompilation)output, result);
    }

    /// <summary>Diagnostics of Warning or Error severity (hidden/info ones, e.g. unused usings, are not findings).</summary>
    public static ImmutableArray<Diagnostic> WarningsAndErrors(Compilation compilation) =>
        compilation.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .ToImmutableArray();

    public static string Describe(IEnumerable<Diagnostic> diagnostics) =>
        string.Join("\n", diagnostics.Take(20).Select(d => d.ToString()));
}

/// <summary>One generator run: the compilation before and after, and the generator's result.</summary>
internal sealed record GeneratorRunOutput(CSharpCompilation Input, CSharpCompilation Output, GeneratorRunResult Result)
{
    public ImmutableArray<GeneratedSourceResult> Sources => Result.GeneratedSources;

    /// <summary>The text of the generated file with hint name <paramref name="hintName"/>.</summary>
    public string Text(string hintName)
    {
        GeneratedSourceResult[] match = Sources.Where(s => s.HintName == hintName).ToArray();
        Assert.True(match.Length == 1,
            $"expected one generated file '{hintName}', found: [{string.Join(", ", Sources.Select(s => s.HintName))}]");
        return match[0].SourceText.ToString();
    }
}
