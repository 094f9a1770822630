using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using H3.Generator.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace H3.Generator.Tests;

/// <summary>
/// Runs <see cref="H3ModelAnalyzer"/> through <see cref="CompilationWithAnalyzers"/> (as the compiler and the IDE
/// do) and records every exception an analyzer throws, which would otherwise surface as AD0001.
/// </summary>
internal static class AnalyzerHarness
{
    /// <summary>The analyzer's diagnostics on a compilation, and any exception it threw.</summary>
    public static AnalyzerRun Analyze(Compilation compilation, IReadOnlyDictionary<string, string>? globalOptions = null)
    {
        var exceptions = new ConcurrentQueue<Exception>();
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty, new GlobalOptionsProvider(globalOptions ?? new Dictionary<string, string>())),
            onAnalyzerException: (ex, _, _) => exceptions.Enqueue(ex),
            concurrentAnalysis: false,
            logAnalyzerExecutionTime: false);
        var analyzers = ImmutableArray.Create<DiagnosticAnalyzer>(new H3ModelAnalyzer());
        ImmutableArray<Diagnostic> diagnostics = compilation.WithAnalyzers(analyzers, options)
            .GetAllDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();
        return new AnalyzerRun(diagnostics, exceptions.ToArray());
    }

    public static AnalyzerRun Analyze(string source, IReadOnlyDictionary<string, string>? globalOptions = null) =>
        Analyze(GeneratorHarness.CreateCompilation(source), globalOptions);

    /// <summary>Analyzer output for a source after the generator ran, the way a real build sees it.</summary>
    public static AnalyzerRun AnalyzeWithGenerator(string source, out GeneratorRunResult generator)
    {
        CSharpCompilation input = GeneratorHarness.CreateCompilation(source);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGeneratorsAndUpdateCompilation(input, out Compilation output, out _);
        generator = driver.GetRunResult().Results.Single();
        return Analyze(output);
    }

    /// <summary>An options provider with only global (MSBuild "build_property.*") options.</summary>
    private sealed class GlobalOptionsProvider(IReadOnlyDictionary<string, string> values) : AnalyzerConfigOptionsProvider
    {
        private static readonly DictionaryOptions Empty = new(new Dictionary<string, string>());

        public override AnalyzerConfigOptions GlobalOptions { get; } = new DictionaryOptions(values);

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Empty;
    }

    private sealed class DictionaryOptions(IReadOnlyDictionary<string, string> values) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) =>
            values.TryGetValue(key, out value);
    }
}

/// <summary>All diagnostics of an analyzed compilation (compiler's and analyzer's) and the analyzer's exceptions.</summary>
internal sealed record AnalyzerRun(ImmutableArray<Diagnostic> All, Exception[] Exceptions)
{
    /// <summary>The H3 analyzer's own diagnostics (IDs H3xxx), in source order.</summary>
    public Diagnostic[] H3 => All.Where(d => d.Id.StartsWith("H3", StringComparison.Ordinal))
        .OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id, StringComparer.Ordinal).ToArray();

    public Diagnostic[] H3Errors => H3.Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();

    public string Describe() => string.Join("\n", All.Select(d => d.ToString()));
}

/// <summary>
/// Test sources with expected diagnostics marked in place, as in Roslyn's own test markup: <c>{|H3011:0|}</c>
/// means "H3011 on the text 0". <see cref="Parse"/> strips the marks and returns their spans.
/// </summary>
internal static class Markup
{
    private static readonly Regex Mark = new(@"\{\|(H3\d{3}):(.*?)\|\}", RegexOptions.Singleline);

    public static (string Source, (string Id, TextSpan Span)[] Expected) Parse(string markup)
    {
        var expected = new List<(string, TextSpan)>();
        var source = new StringBuilder();
        int last = 0;
        foreach (Match match in Mark.Matches(markup))
        {
            source.Append(markup, last, match.Index - last);
            expected.Add((match.Groups[1].Value, new TextSpan(source.Length, match.Groups[2].Length)));
            source.Append(match.Groups[2].Value);
            last = match.Index + match.Length;
        }
        source.Append(markup, last, markup.Length - last);
        return (source.ToString(), expected.ToArray());
    }
}
