using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using H3.Generator.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace H3.Generator.Tests;

/// <summary>
/// The pipeline caches (NOTES-ecosystem.md §2.3): an unrelated edit regenerates nothing, and changing one model
/// regenerates only that model. Pipeline values hold no Roslyn objects.
/// </summary>
public class IncrementalTests
{
    private const string ModelA = """
        namespace Demo.Incremental;

        [global::H3.H3Model(EmbedDim = 3, Hidden = 4, State = 2, ConvSize = 2, Layers = 1, WindowSize = 3)]
        public partial class ModelA { }
        """;

    private const string ModelB = """
        namespace Demo.Incremental;

        [global::H3.H3Model(EmbedDim = 5, Hidden = 6, State = 4, ConvSize = 0, Layers = 1, WindowSize = 4)]
        public partial class ModelB { }
        """;

    private const string Unrelated = """
        namespace Demo.Incremental;

        public static class Helper
        {
            public static int Twice(int x) => 2 * x;
        }
        """;

    private const string HintA = "Demo.Incremental.ModelA.g.cs", HintB = "Demo.Incremental.ModelB.g.cs";

    private static (CSharpCompilation Compilation, SyntaxTree A, SyntaxTree B, SyntaxTree Other) Start(bool sameFile = false)
    {
        SyntaxTree a = GeneratorHarness.Parse(sameFile ? ModelA + "\n" + ModelB.Replace("namespace Demo.Incremental;", "") : ModelA, "ModelA.cs");
        SyntaxTree b = GeneratorHarness.Parse(sameFile ? "" : ModelB, "ModelB.cs");
        SyntaxTree other = GeneratorHarness.Parse(Unrelated, "Helper.cs");
        return (GeneratorHarness.CreateCompilation(a, b, other), a, b, other);
    }

    private static IEnumerable<IncrementalGeneratorRunStep> Steps(GeneratorRunResult result, string name) =>
        result.TrackedSteps.TryGetValue(name, out var steps) ? steps : Enumerable.Empty<IncrementalGeneratorRunStep>();

    private static IEnumerable<IncrementalGeneratorRunStep> OutputSteps(GeneratorRunResult result) =>
        result.TrackedOutputSteps.SelectMany(kv => kv.Value);

    private static H3ModelSpec SpecOf((object Value, IncrementalStepRunReason Reason) output) => Assert.IsType<H3ModelSpec>(output.Value);

    [Fact]
    public void First_run_produces_both_models_through_the_tracked_steps()
    {
        var (compilation, _, _, _) = Start();
        GeneratorDriver driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        Assert.Null(result.Exception);
        Assert.Equal(new[] { HintA, HintB }, result.GeneratedSources.Select(s => s.HintName).OrderBy(n => n, StringComparer.Ordinal));
        var specs = Steps(result, H3ModelGenerator.SpecsStep).SelectMany(s => s.Outputs).ToArray();
        Assert.Equal(2, specs.Length);
        Assert.All(specs, o => Assert.Equal(IncrementalStepRunReason.New, o.Reason));
        Assert.Equal(new[] { "ModelA", "ModelB" }, specs.Select(o => SpecOf(o).TypeName).OrderBy(n => n, StringComparer.Ordinal));
        Assert.NotEmpty(OutputSteps(result));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Unrelated_edit_regenerates_nothing(bool modelsInOneFile)
    {
        var (compilation, _, _, other) = Start(modelsInOneFile);
        GeneratorDriver driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        string[] before = Texts(driver);

        SyntaxTree edited = other.WithChangedText(other.GetText().Replace(other.ToString().IndexOf("2 * x", StringComparison.Ordinal), 5, "x + x + 0"));
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(other, edited));
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        var specs = Steps(result, H3ModelGenerator.SpecsStep).SelectMany(s => s.Outputs).ToArray();
        Assert.Equal(2, specs.Length);
        Assert.All(specs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
            $"{SpecOf(o).TypeName}: Specs step reported {o.Reason}"));
        var outputs = OutputSteps(result).SelectMany(s => s.Outputs).ToArray();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        Assert.Equal(before, Texts(driver));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Changing_Hidden_of_one_model_regenerates_only_that_model(bool modelsInOneFile)
    {
        var (compilation, a, _, _) = Start(modelsInOneFile);
        GeneratorDriver driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        GeneratorRunResult first = driver.GetRunResult().Results.Single();
        string textA = Text(first, HintA), textB = Text(first, HintB);

        int at = a.ToString().IndexOf("Hidden = 4", StringComparison.Ordinal);
        SyntaxTree edited = a.WithChangedText(a.GetText().Replace(at, "Hidden = 4".Length, "Hidden = 8"));
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(a, edited));
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        var specs = Steps(result, H3ModelGenerator.SpecsStep).SelectMany(s => s.Outputs).ToArray();
        Assert.Equal(2, specs.Length);
        var specA = Assert.Single(specs, o => SpecOf(o).TypeName == "ModelA");
        var specB = Assert.Single(specs, o => SpecOf(o).TypeName == "ModelB");
        Assert.Equal(IncrementalStepRunReason.Modified, specA.Reason);
        Assert.Equal(8, SpecOf(specA).Config.H);
        Assert.True(specB.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"ModelB: Specs step reported {specB.Reason}");

        // Exactly one source output ran again (ModelA's); ModelB's came from the cache.
        var outputs = OutputSteps(result).SelectMany(s => s.Outputs).ToArray();
        Assert.Single(outputs, o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.All(outputs.Where(o => o.Reason != IncrementalStepRunReason.Modified), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));

        Assert.Equal(textB, Text(result, HintB));
        Assert.NotEqual(textA, Text(result, HintA));
        Assert.Contains("public const int Hidden = 8;", Text(result, HintA), StringComparison.Ordinal);
    }

    [Fact]
    public void Pipeline_values_hold_no_Roslyn_objects()
    {
        var (compilation, a, _, other) = Start();
        GeneratorDriver driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        Check(driver.GetRunResult().Results.Single());
        // Second run: cached values are checked too.
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(other, other.WithChangedText(other.GetText().WithChanges(
            new Microsoft.CodeAnalysis.Text.TextChange(new Microsoft.CodeAnalysis.Text.TextSpan(0, 0), "// edited\n")))));
        Check(driver.GetRunResult().Results.Single());
        Assert.NotNull(a);

        static void Check(GeneratorRunResult result)
        {
            // Roslyn's own inputs (the Compilation, syntax trees, ...) and ForAttributeWithMetadataName's internal
            // steps ("..._ForAttribute...") legitimately carry Roslyn objects; every step after them must not.
            var steps = result.TrackedSteps
                .Where(kv => !RoslynObjectFinder.IsRoslynInternalStep(kv.Key))
                .SelectMany(kv => kv.Value.Select(step => (kv.Key, step)))
                .Concat(result.TrackedOutputSteps.SelectMany(kv => kv.Value.Select(step => (kv.Key, step))))
                .ToArray();
            Assert.Contains(steps, s => s.Key == H3ModelGenerator.SpecsStep);
            foreach (var (name, step) in steps)
                foreach (var (value, _) in step.Outputs)
                    RoslynObjectFinder.AssertNone(value, name);
        }
    }

    [Fact]
    public void The_Roslyn_object_finder_finds_nested_Roslyn_objects()
    {
        // The walker above must see through tuples, arrays and records, or the test before would prove nothing.
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(ModelA);
        SyntaxNode node = compilation.SyntaxTrees[0].GetRoot();
        INamedTypeSymbol symbol = compilation.GetTypeByMetadataName("Demo.Incremental.ModelA")!;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => RoslynObjectFinder.AssertNone((1, new object[] { "x", node }), "test"));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => RoslynObjectFinder.AssertNone(new Holder("a", symbol), "test"));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => RoslynObjectFinder.AssertNone(new[] { node.GetLocation() }, "test"));
        RoslynObjectFinder.AssertNone((1, "x", new Holder("a", null)), "test");
    }

    private sealed record Holder(string Name, object? Payload);

    private static string Text(GeneratorRunResult result, string hint) =>
        result.GeneratedSources.Single(s => s.HintName == hint).SourceText.ToString();

    private static string[] Texts(GeneratorDriver driver) =>
        driver.GetRunResult().Results.Single().GeneratedSources
            .OrderBy(s => s.HintName, StringComparer.Ordinal)
            .Select(s => s.HintName + "\n" + s.SourceText)
            .ToArray();
}

/// <summary>Walks a pipeline value's object graph and fails on any Roslyn object that would defeat caching.</summary>
internal static class RoslynObjectFinder
{
    private static readonly Type[] Banned = { typeof(ISymbol), typeof(SyntaxNode), typeof(Compilation), typeof(Location), typeof(SemanticModel), typeof(SyntaxTree) };

    private static readonly HashSet<string> WellKnownInputs = typeof(WellKnownGeneratorInputs)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>Steps Roslyn itself names: the well-known inputs and ForAttributeWithMetadataName's internals.</summary>
    public static bool IsRoslynInternalStep(string name) =>
        WellKnownInputs.Contains(name) || name.Contains("ForAttribute", StringComparison.Ordinal);

    public static void AssertNone(object? value, string stepName)
    {
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        Visit(value, stepName, visited, 0);
    }

    private static void Visit(object? value, string path, HashSet<object> visited, int depth)
    {
        if (value is null || depth > 32) return;
        Type type = value.GetType();
        foreach (Type banned in Banned)
            Assert.False(banned.IsAssignableFrom(type), $"pipeline value at {path} is a Roslyn {banned.Name} ({type.FullName})");
        if (type.IsPrimitive || type.IsEnum || value is string || value is decimal) return;
        if (!type.IsValueType && !visited.Add(value)) return;

        if (value is IEnumerable sequence
            && !(type.IsValueType && type.GetProperty("IsDefault")?.GetValue(value) is true)) // a default ImmutableArray<T>
        {
            int i = 0;
            foreach (object? item in sequence) Visit(item, $"{path}[{i++}]", visited, depth + 1);
            if (type.IsArray) return;
        }
        for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
            foreach (FieldInfo field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (field.FieldType.IsPointer || field.FieldType.IsByRefLike) continue;
                Visit(field.GetValue(value), $"{path}.{field.Name}", visited, depth + 1);
            }
    }
}
