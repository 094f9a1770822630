using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using H3.Generator.Diagnostics;
using H3.Generator.Parsing;
using Microsoft.CodeAnalysis;

namespace H3.Generator.Tests;

/// <summary>
/// <see cref="H3ConfigRules"/> on its own (pure: numbers in, findings out), the size report H3020 and its MSBuild
/// switch, and configurations that must produce no error at all.
/// </summary>
public class ConfigRulesTests
{
    private static readonly H3Config Default = new(287, 256, 64, 4, 4, 60, 0.1f);

    private static string[] Ids(List<ConfigProblem> problems) => problems.Select(p => p.Rule.Id).ToArray();

    public static TheoryData<int, int, int, int, int, int, float, string[]> Boundaries => new()
    {
        // E, H, N, K, L, T, p: the edges of every range of H3-SPEC.md (small H and L keep the size rules quiet).
        { 1, 4, 2, 0, 1, 1, 0f, new string[0] },
        // E = 65536: the training workspace's transpose scratch is [H, max(E, F)], so a wide input still trains.
        { 65536, 4, 2, 0, 1, 1, 0f, new string[0] },
        { 0, 4, 2, 0, 1, 1, 0f, new[] { "H3011" } },
        { 65537, 4, 2, 0, 1, 1, 0f, new[] { "H3011" } },
        { 3, 65536, 2, 0, 1, 1, 0f, new[] { "H3016" } },
        { 3, 65537, 2, 0, 1, 1, 0f, new[] { "H3011" } },
        { 3, 4, 1024, 4, 1, 60, 0f, new string[0] },
        { 3, 4, 1025, 4, 1, 60, 0f, new[] { "H3011" } },
        { 3, 4, 1023, 4, 1, 60, 0f, new[] { "H3012" } },
        { 3, 4, 2, 4, 256, 60, 0f, new string[0] },
        { 3, 4, 2, 4, 257, 60, 0f, new[] { "H3011" } },
        { 3, 4, 2, 0, 1, 1_048_576, 0f, new string[0] },
        { 3, 4, 2, 0, 1, 1_048_577, 0f, new[] { "H3011" } },
        { 3, 4, 2, 60, 1, 60, 0f, new string[0] },
        { 3, 4, 2, 61, 1, 60, 0f, new[] { "H3013" } },
        { 3, 4, 2, 4, 1, 60, 0.99999994f, new string[0] },
        { 3, 4, 2, 4, 1, 60, -0f, new string[0] },
        { 3, 4, 2, 4, 1, 60, float.NaN, new[] { "H3014" } },
        { 3, 4, 2, 4, 1, 60, -float.Epsilon, new[] { "H3014" } },
        { 3, 4, 2, 4, 1, 60, float.NegativeInfinity, new[] { "H3014" } },
        { int.MinValue, int.MinValue, int.MinValue, int.MinValue, int.MinValue, int.MinValue, float.NaN, new[] { "H3011", "H3011", "H3011", "H3011", "H3011", "H3011", "H3014" } },
        { int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue, float.MaxValue, new[] { "H3011", "H3011", "H3011", "H3011", "H3011", "H3014" } },
    };

    [Theory]
    [MemberData(nameof(Boundaries))]
    public void Validate_accepts_exactly_the_ranges_of_the_spec(int e, int h, int n, int k, int l, int t, float p, string[] ids) =>
        Assert.Equal(ids, Ids(H3ConfigRules.Validate(new H3Config(e, h, n, k, l, t, p), "M")));

    [Fact]
    public void Largest_model_that_fits_one_array_is_valid_and_one_more_layer_is_not()
    {
        // E = H = 4096, L = 10: 2,014,339,072 parameters fit Array.MaxLength (2,147,483,591); L = 11 does not.
        H3Config fits = new(4096, 4096, 2, 0, 10, 1, 0f), over = fits with { L = 11 };
        Assert.True(fits.ParameterCount <= H3ConfigRules.MaxParameters);
        Assert.Empty(H3ConfigRules.Validate(fits, "M"));
        Assert.Equal(new[] { "H3016" }, Ids(H3ConfigRules.Validate(over, "M")));
    }

    [Theory]
    [InlineData(3_569_151L, new[] { "H3018" })]
    [InlineData(3_569_152L, new string[0])]
    [InlineData(long.MaxValue, new string[0])]
    [InlineData(0L, new[] { "H3011" })]
    [InlineData(-5L, new[] { "H3011" })]
    public void MaxParameters_budget(long budget, string[] ids) =>
        Assert.Equal(ids, Ids(H3ConfigRules.Validate(Default, "M", maxParameters: budget)));

    [Fact]
    public void Missing_EmbedDim_skips_the_size_rules() =>
        Assert.Equal(new[] { "H3010" }, Ids(H3ConfigRules.Validate(Default with { E = 0 }, "M", hasEmbedDim: false, maxParameters: 1)));

    [Fact]
    public void Valid_configurations_of_the_spec_have_no_problem()
    {
        Assert.Empty(H3ConfigRules.Validate(Default, "M"));                                  // the seed's defaults
        Assert.Empty(H3ConfigRules.Validate(Default with { E = 256 }, "M"));                 // E == H
        Assert.Empty(H3ConfigRules.Validate(Default with { K = 0 }, "M"));                   // K = 0
        Assert.Empty(H3ConfigRules.Validate(new H3Config(3, 3, 2, 1, 2, 1, 0f), "M"));       // T = 1, tiny
    }

    [Fact]
    public void Summary_of_the_default_config()
    {
        ConfigProblem summary = H3ConfigRules.Summary(Default, "FrameEncoder");
        Assert.Equal("H3020", summary.Rule.Id);
        Assert.Equal(3_569_152, Default.ParameterCount);
        Assert.Equal(394_278_912d, Default.ForwardFlopsPerWindow);
        Assert.Equal("FrameEncoder: 3,569,152 parameters (13.6 MiB float32), 0.394 GFLOP per 60-frame window",
            string.Format(CultureInfo.InvariantCulture, summary.Rule.MessageFormat.ToString(CultureInfo.InvariantCulture), summary.Args.ToArray<object>()));
    }

    [Theory]
    [InlineData(96L, "96 bytes")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(14_276_608L, "13.6 MiB")]
    [InlineData(8_589_934_364L, "8.00 GiB")]
    public void Sizes_are_printed_in_binary_units(long bytes, string text) => Assert.Equal(text, H3ConfigRules.BytesText(bytes));

    [Theory]
    [InlineData(9_876d, "9,876 FLOP")]
    [InlineData(12_345_678d, "12.346 MFLOP")]
    [InlineData(394_278_912d, "0.394 GFLOP")]
    [InlineData(1.5e12, "1,500.000 GFLOP")]
    public void Flops_are_printed_in_decimal_units(double flops, string text) => Assert.Equal(text, H3ConfigRules.FlopsText(flops));

    [Fact]
    public void Hints_of_the_default_config_name_the_unused_shift_taps()
    {
        ConfigProblem hint = Assert.Single(H3ConfigRules.Hints(Default));
        Assert.Equal("H3022", hint.Rule.Id);
        Assert.Equal(new[] { "State", "WindowSize" }, hint.Properties);
        Assert.Empty(H3ConfigRules.Hints(Default with { N = 60 }));
    }

    // ---- Through the analyzer -------------------------------------------------------------------------------

    [Theory]
    [InlineData("[H3Model(EmbedDim = 287)] public partial class FrameEncoder { }", "defaults")]
    [InlineData("[H3Model(EmbedDim = 256, Hidden = 256)] public partial class Square { }", "E == H")]
    [InlineData("[H3Model(EmbedDim = 3, Hidden = 8, ConvSize = 0)] public partial class NoConv { }", "K = 0")]
    [InlineData("[H3Model(EmbedDim = 3, Hidden = 4, State = 2, ConvSize = 1, Layers = 1, WindowSize = 1, Dropout = 0f)] public partial class Tiny { }", "tiny, T = 1")]
    [InlineData("namespace N { public partial class Outer { [global::H3.H3Model(EmbedDim = 3, Hidden = 4, MaxParameters = 10_000)] internal partial class Nested { } } }", "nested, under budget")]
    public void Valid_models_compile_with_the_generator_and_the_analyzer_reports_no_warning_or_error(string declaration, string name)
    {
        AnalyzerRun run = AnalyzerHarness.AnalyzeWithGenerator("using H3;\n" + declaration, out GeneratorRunResult generator);
        Assert.Null(generator.Exception);
        Assert.Single(generator.GeneratedSources);
        Assert.Empty(run.Exceptions);
        Assert.True(run.All.All(d => d.Severity < DiagnosticSeverity.Warning), name + ":\n" + run.Describe());
        // The size report is there, as Info, on every valid model.
        Assert.Equal(DiagnosticSeverity.Info, Assert.Single(run.H3, d => d.Id == "H3020").Severity);
    }

    [Fact]
    public void H3ReportParameterCount_warning_raises_the_size_report_to_a_warning()
    {
        const string Source = "using H3;\n[H3Model(EmbedDim = 287)] public partial class FrameEncoder { }";
        var options = new Dictionary<string, string> { [H3ModelAnalyzer.ReportParameterCountProperty] = "Warning" };
        Diagnostic raised = Assert.Single(AnalyzerHarness.Analyze(Source, options).H3, d => d.Id == "H3020");
        Assert.Equal(DiagnosticSeverity.Warning, raised.Severity);
        Assert.Equal("FrameEncoder: 3,569,152 parameters (13.6 MiB float32), 0.394 GFLOP per 60-frame window", raised.GetMessage(CultureInfo.InvariantCulture));

        // Anything else (or nothing) leaves it Info, and the hints stay Info either way.
        foreach (string value in new[] { "info", "", "true" })
            Assert.Equal(DiagnosticSeverity.Info, Assert.Single(AnalyzerHarness.Analyze(Source,
                new Dictionary<string, string> { [H3ModelAnalyzer.ReportParameterCountProperty] = value }).H3, d => d.Id == "H3020").Severity);
        Assert.Equal(DiagnosticSeverity.Info, Assert.Single(AnalyzerHarness.Analyze(Source, options).H3, d => d.Id == "H3022").Severity);
    }

    [Theory]
    [InlineData("de-DE")]
    [InlineData("fr-FR")]
    [InlineData("ar-SA")]
    public void Messages_do_not_depend_on_the_culture(string culture)
    {
        CultureInfo before = CultureInfo.CurrentCulture, beforeUi = CultureInfo.CurrentUICulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = new CultureInfo(culture);
            AnalyzerRun run = AnalyzerHarness.Analyze("using H3;\n[H3Model(EmbedDim = 287, Hidden = 250, Dropout = 1.5f)] public partial class A { }\n"
                + "[H3Model(EmbedDim = 287, WindowSize = 1000, State = 8)] public partial class B { }");
            string[] messages = run.H3.Select(d => d.GetMessage()).ToArray();
            Assert.Contains("Dropout = 1.5 is not a probability in [0, 1); Dropout must satisfy 0 <= Dropout < 1 (0 disables dropout)", messages);
            Assert.Contains(messages, m => m.StartsWith("B: 3,282,432 parameters (12.5 MiB float32), ", System.StringComparison.Ordinal));
            Assert.Contains(messages, m => m.Contains("(T+1)/2 = 500.5 multiply-adds", System.StringComparison.Ordinal));
        }
        finally
        {
            CultureInfo.CurrentCulture = before;
            CultureInfo.CurrentUICulture = beforeUi;
        }
    }
}
