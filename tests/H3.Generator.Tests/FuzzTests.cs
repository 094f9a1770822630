using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Threading;
using H3.Generator.Diagnostics;
using H3.Generator.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit.Abstractions;

namespace H3.Generator.Tests;

/// <summary>
/// Random <c>[H3Model]</c> usages as a user might type them (extreme, negative and wrongly typed values, missing,
/// repeated and unknown properties, odd syntax, code cut off mid-keystroke, every kind of declaration around it)
/// through the analyzer (<see cref="CompilationWithAnalyzers"/>) and the generator (the driver): no exception may
/// escape either (no AD0001, no CS8785, no H3099), and the generator never generates a model the analyzer reports
/// an error for. Only the few valid usages reach the emitter, and their source is never compiled, so 10,000 usages
/// take about 20 s. The seed is fixed, so a failure reproduces; the failing usage is printed. (This test found a
/// half-typed argument list that let a model with Layers = int.MaxValue through to the emitter, which then ran
/// out of memory.)
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private const int Usages = 10_000, PerCompilation = 40;

    private static readonly string[] Properties =
        { "EmbedDim", "Hidden", "State", "ConvSize", "Layers", "WindowSize", "Dropout", "MaxParameters" };

    private static readonly string[] OddProperties = { "embedDim", "Foo", "Hidden ", "@State", "Dropout.Value", "" };

    private static readonly string[] Values =
    {
        "0", "1", "2", "3", "4", "7", "8", "9", "16", "60", "63", "64", "250", "256", "287", "1023", "1024", "1025",
        "4096", "46340", "65536", "65537", "1048576", "1048577", "-1", "-4", "-64", "int.MaxValue", "int.MinValue",
        "-2147483648", "2147483648", "0x10", "1_000", "(int)3.9", "1 + 2", "-(-3)", "2 * 32", "(byte)3", "(short)-4",
        "'\\0'", "'A'", "Sizes.Field", "Sizes.Const", "Const", "default", "null", "\"x\"", "3.5", "0.1", "0.1f", "1f",
        "1L", "1UL", "5_000_000L", "long.MaxValue", "long.MinValue", "9_000_000_000", "true", "typeof(int)", "new int[0]",
        "float.NaN", "float.PositiveInfinity", "float.NegativeInfinity", "-0f", "1e-45f", "0.99999994f", "float.MaxValue",
        "float.Epsilon", "1e40f", "checked(int.MaxValue + 1)", "unchecked(int.MaxValue + 1)", "int.MaxValue * 2",
        "nameof(Sizes)", "$\"{1}\"", "undefinedName", "Sizes.Field + 1", "(", ")", "=", "", "/* */ 4", "4 /* */",
        "H3Defaults.Hidden", "H3Defaults.Dropout", "H3Defaults.State + 1", "(float)0.5", "1.0m", "0.5d",
    };

    private static readonly string[] Members =
    {
        "public void Forward(ReadOnlySpan<float> a, Span<float> b, int c) { }",
        "public void Forward(float[] a) { }",
        "public int Hidden;",
        "public static int State => 1;",
        "public CLASS(int size) { }",
        "public CLASS() { }",
        "private int __h3_cache;",
        "public static int Size = 3;",
        "public const int Const = 4;",
        "public void SaveWeights(string path) { }",
        "public class Tensors { }",
        "public event Action? Info;",
        "public int this[int i] => i;",
        "public void Step(ReadOnlySpan<float> f, Span<float> o, H3StreamState s) { }",
        "void Broken( { }",
        "public int Layers { get; set; }",
    };

    [Fact]
    public async System.Threading.Tasks.Task Random_attribute_usages_never_throw_and_never_generate_a_model_with_an_error()
    {
        var random = new Random(0x4833);
        var clock = Stopwatch.StartNew();
        int usages = 0, generated = 0, withErrors = 0;
        var seenIds = new SortedSet<string>(StringComparer.Ordinal);
        var driverOptions = new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true);
        var analyzers = ImmutableArray.Create<DiagnosticAnalyzer>(new H3ModelAnalyzer());

        for (int batch = 0; usages < Usages; batch++)
        {
            var sources = new string[PerCompilation];
            var trees = new SyntaxTree[PerCompilation + 1];
            for (int i = 0; i < PerCompilation; i++)
            {
                sources[i] = Usage(random, usages + i);
                trees[i] = GeneratorHarness.Parse(sources[i], $"U{usages + i}.cs");
            }
            trees[PerCompilation] = GeneratorHarness.Parse(
                "public static class Sizes { public static int Field = 3; public const int Const = 4; }", "Sizes.cs");
            CSharpCompilation compilation = GeneratorHarness.CreateCompilation(trees);
            int first = usages;
            string Describe(string? path) =>
                path is not null && path.StartsWith("U", StringComparison.Ordinal)
                    && int.TryParse(path[1..^3], System.Globalization.CultureInfo.InvariantCulture, out int i) && i - first is >= 0 and < PerCompilation
                    ? path + ":\n" + sources[i - first]
                    : "batch " + batch + ", file " + path;

            // Analyzer: exceptions are caught by the driver and handed to this callback (else they would be AD0001).
            var exceptions = new ConcurrentQueue<Exception>();
            var options = new CompilationWithAnalyzersOptions(new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
                (ex, _, _) => exceptions.Enqueue(ex), concurrentAnalysis: false, logAnalyzerExecutionTime: false);
            ImmutableArray<Diagnostic> diagnostics = await compilation.WithAnalyzers(analyzers, options)
                .GetAnalyzerDiagnosticsAsync(CancellationToken.None);
            Assert.True(exceptions.IsEmpty, $"analyzer threw in batch {batch}: {exceptions.FirstOrDefault()}");
            foreach (Diagnostic d in diagnostics)
            {
                Assert.True(d.Id is not ("AD0001" or "H3099"), d + "\n" + Describe(d.Location.SourceTree?.FilePath));
                seenIds.Add(d.Id);
            }

            // Generator: the whole pipeline (its compile-and-run checks are elsewhere).
            GeneratorDriver driver = CSharpGeneratorDriver.Create(new[] { new H3ModelGenerator().AsSourceGenerator() },
                parseOptions: GeneratorHarness.ParseOptions, driverOptions: driverOptions).RunGenerators(compilation);
            GeneratorDriverRunResult run = driver.GetRunResult();
            GeneratorRunResult result = run.Results.Single();
            Assert.True(result.Exception is null, $"generator threw in batch {batch}: {result.Exception}");
            Assert.True(run.Diagnostics.IsEmpty, string.Join("\n", run.Diagnostics.Select(d => d + "\n" + Describe(d.Location.SourceTree?.FilePath))));

            // Never generate what the analyzer rejects. Each usage is alone in its file, and its type is C<index>.
            var errorFiles = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree is not null)
                .Select(d => d.Location.SourceTree!.FilePath).ToHashSet(StringComparer.Ordinal);
            withErrors += errorFiles.Count;
            foreach (IncrementalGeneratorRunStep step in result.TrackedSteps.GetValueOrDefault(H3ModelGenerator.SpecsStep, ImmutableArray<IncrementalGeneratorRunStep>.Empty))
                foreach ((object value, _) in step.Outputs)
                {
                    var spec = (H3ModelSpec)value;
                    string file = "U" + spec.TypeName.TrimStart('@').TrimStart('C') + ".cs";
                    Assert.False(errorFiles.Contains(file), $"generated {spec.Namespace}.{spec.TypeName} although the analyzer reports an error\n{Describe(file)}");
                    generated++;
                }
            usages += PerCompilation;
        }

        output.WriteLine($"{usages} usages in {clock.Elapsed.TotalSeconds:F1} s: {generated} generated, {withErrors} with an H3 error; IDs seen: {string.Join(" ", seenIds)}");
        // The generator must have had plenty of both kinds to decide on, and the analyzer most of its rules.
        Assert.InRange(generated, Usages / 50, Usages);
        Assert.InRange(withErrors, Usages / 10, Usages);
        foreach (string id in new[] { "H3001", "H3003", "H3005", "H3006", "H3008", "H3010", "H3011", "H3012", "H3013", "H3014", "H3015", "H3020", "H3021", "H3022" })
            Assert.Contains(id, seenIds);
    }

    /// <summary>One file with one <c>[H3Model]</c> usage on a type named C{index}.</summary>
    private static string Usage(Random r, int index)
    {
        string name = "C" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sb = new StringBuilder("using System;\nusing H3;\nusing Model = H3.H3ModelAttribute;\n\n");

        // The attribute: its name, 0-9 arguments of every sort, sometimes odd punctuation or a second attribute.
        string attributeName = Pick(r, "H3Model", "H3Model", "H3Model", "H3.H3Model", "global::H3.H3Model", "H3ModelAttribute", "Model");
        var arguments = new List<string>();
        bool valid = r.Next(3) == 0; // a third start from a valid configuration, so the generator has work too
        if (valid) arguments.AddRange(ValidArguments(r));
        int extra = r.Next(valid ? 3 : 9);
        for (int i = 0; i < extra; i++) arguments.Add(Argument(r));
        Shuffle(r, arguments);
        string separator = Pick(r, ", ", ", ", ", ", ",", " ,\n    ", ", ,");
        string list = r.Next(12) switch
        {
            0 => "",
            1 => "()",
            2 => "(" + string.Join(separator, arguments),                 // no closing parenthesis
            3 => "(" + string.Join(separator, arguments) + ",)",          // trailing comma
            _ => "(" + string.Join(separator, arguments) + ")",
        };
        string attribute = "[" + attributeName + list + (r.Next(30) == 0 ? "" : "]");
        if (r.Next(25) == 0) attribute += "\n[" + attributeName + "(EmbedDim = " + Pick(r, Values) + ")]";
        if (r.Next(40) == 0) attribute = "[Serializable, " + attribute.Substring(1);

        // The declaration: modifiers, kind, type parameters, members, and what it is nested in.
        var modifiers = new List<string>();
        if (r.Next(3) != 0) modifiers.Add(Pick(r, "public", "internal", "private", "file"));
        if (r.Next(12) == 0) modifiers.Add("static");
        if (r.Next(12) == 0) modifiers.Add(Pick(r, "sealed", "abstract", "unsafe", "new"));
        if (r.Next(8) != 0) modifiers.Add("partial");
        string kind = r.Next(14) switch { 0 => "record", 1 => "struct", 2 => "record struct", 3 => "interface", 4 => "enum", _ => "class" };
        string typeParameters = r.Next(14) == 0 ? "<T>" : "";
        var body = new StringBuilder();
        int members = r.Next(10) < 7 ? 0 : r.Next(1, 4);
        for (int i = 0; i < members; i++) body.Append("    ").Append(Pick(r, Members).Replace("CLASS", name)).Append('\n');
        string declaration = $"{attribute}\n{string.Join(" ", modifiers)} {kind} {name}{typeParameters}\n{{\n{body}}}\n";
        if (kind == "enum") declaration = $"{attribute}\n{string.Join(" ", modifiers)} enum {name} {{ A, B }}\n";

        switch (r.Next(10))
        {
            case 0: declaration = $"public partial class Outer{index}<T>\n{{\n{declaration}}}\n"; break;
            case 1: declaration = $"public class Outer{index}\n{{\n{declaration}}}\n"; break;
            case 2: declaration = $"public partial struct Outer{index}\n{{\n{declaration}}}\n"; break;
        }
        switch (r.Next(4))
        {
            case 0: sb.Append("namespace N").Append(index).Append("\n{\n").Append(declaration).Append("}\n"); break;
            case 1: sb.Append("namespace N").Append(index).Append(";\n\n").Append(declaration); break;
            default: sb.Append(declaration); break;
        }

        // Code as typed: cut off at a random point after the usings, in about one file of eight.
        string text = sb.ToString();
        if (r.Next(8) == 0)
        {
            int start = text.IndexOf("\n\n", StringComparison.Ordinal) + 2, cut = r.Next(start, text.Length);
            // Never inside the type's name: C12 cut to C1 would be another usage's type and confuse the check above.
            int nameAt = text.IndexOf(" " + name, StringComparison.Ordinal) + 1;
            if (nameAt > 0 && cut > nameAt && cut < nameAt + name.Length) cut = nameAt + name.Length;
            text = text.Substring(0, cut);
        }
        return text;
    }

    private static IEnumerable<string> ValidArguments(Random r)
    {
        yield return "EmbedDim = " + r.Next(1, 300);
        if (r.Next(2) == 0) yield return "Hidden = " + Pick(r, "4", "8", "9", "16", "32", "250", "256");
        int t = r.Next(1, 200);
        if (r.Next(2) == 0) yield return "WindowSize = " + t;
        if (r.Next(2) == 0) yield return "State = " + 2 * r.Next(1, 40);
        if (r.Next(2) == 0) yield return "ConvSize = " + r.Next(0, Math.Min(t, 8) + 1);
        if (r.Next(2) == 0) yield return "Layers = " + r.Next(1, 5);
        if (r.Next(3) == 0) yield return "Dropout = " + Pick(r, "0f", "0.1f", "0.5f", "0.99f");
        if (r.Next(6) == 0) yield return "MaxParameters = " + Pick(r, "1_000", "100_000", "10_000_000", "long.MaxValue");
    }

    private static string Argument(Random r)
    {
        string property = r.Next(12) == 0 ? Pick(r, OddProperties) : Pick(r, Properties);
        string value = Pick(r, Values);
        return r.Next(20) switch
        {
            0 => value,                          // positional
            1 => property + ": " + value,        // parameter syntax, not property syntax
            2 => property + " =",                // value not typed yet
            3 => "= " + value,                   // name not typed yet
            _ => property + " = " + value,
        };
    }

    private static T Pick<T>(Random r, params T[] items) => items[r.Next(items.Length)];

    private static void Shuffle<T>(Random r, List<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = r.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
