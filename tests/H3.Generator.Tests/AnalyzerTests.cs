using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using H3.Generator.Diagnostics;
using Microsoft.CodeAnalysis;

namespace H3.Generator.Tests;

/// <summary>
/// One test per diagnostic ID (docs/diagnostics.md): the squiggle sits on the offending argument, or on the class
/// name for a problem of the class, and the message is exactly the documented one. Each test also checks the
/// generator against the analyzer: a model is generated exactly when the analyzer reports no error for it.
/// </summary>
public class AnalyzerTests
{
    private const string Prefix = "using System;\nusing H3;\n\n";

    /// <summary>
    /// Analyzes <paramref name="markup"/> and checks that the marked H3 diagnostics, and no other H3 warning or error
    /// (nor another diagnostic with a marked ID), are reported, with <paramref name="messages"/> in source order.
    /// </summary>
    private static AnalyzerRun Verify(string markup, params string[] messages)
    {
        var (source, expected) = Markup.Parse(Prefix + markup);
        AnalyzerRun run = AnalyzerHarness.Analyze(source);
        Assert.Empty(run.Exceptions);
        Assert.DoesNotContain(run.All, d => d.Id == "AD0001");

        var markedIds = expected.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        Diagnostic[] actual = run.H3.Where(d => markedIds.Contains(d.Id) || d.Severity >= DiagnosticSeverity.Warning).ToArray();
        Assert.True(
            expected.Select(e => (e.Id, e.Span)).SequenceEqual(actual.Select(d => (d.Id, d.Location.SourceSpan))),
            $"expected [{string.Join(", ", expected.Select(e => $"{e.Id}@{e.Span}"))}]\nactual:\n{string.Join("\n", actual.Select(d => d.ToString()))}");
        Assert.Equal(messages, actual.Select(d => d.GetMessage(CultureInfo.InvariantCulture)).ToArray());
        foreach (Diagnostic d in actual)
        {
            Assert.Equal(H3Descriptors.HelpBase + d.Id.ToLowerInvariant(), d.Descriptor.HelpLinkUri);
            Assert.Contains(d.Descriptor.Category, new[] { "H3.Usage", "H3.Config", "H3.Performance" });
        }

        // The generator agrees with the analyzer: nothing generated when there is an error, a file otherwise.
        GeneratorRunOutput generated = GeneratorHarness.Run(source);
        Assert.Equal(run.H3Errors.Length == 0, generated.Sources.Length > 0);
        return run;
    }

    // ---- H3.Usage ---------------------------------------------------------------------------------------------

    [Fact]
    public void H3001_model_not_partial_on_the_class_name() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 4)]\npublic class {|H3001:Encoder|} { }",
        "The H3 model class 'Encoder' must be declared partial so that the generator can add its members; add the 'partial' modifier");

    [Fact]
    public void H3002_containing_type_not_partial_on_its_name() => Verify(
        "public class {|H3002:Outer|}\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    public partial class Encoder { }\n}",
        "'Outer' must be declared partial because it contains the H3 model 'Encoder'; add the 'partial' modifier");

    [Fact]
    public void H3003_generic_model() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 4)]\npublic partial class {|H3003:Encoder|}<T> { }",
        "The H3 model class 'Encoder' cannot be generic: the generator specialises it to constant shapes; remove the type parameters");

    [Fact]
    public void H3004_model_nested_in_a_generic_type() => Verify(
        "public partial class Outer<T>\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    public partial class {|H3004:Encoder|} { }\n}",
        "The H3 model 'Encoder' cannot be nested in the generic type 'Outer<T>'; declare it outside the generic type");

    [Fact]
    public void H3005_static_model() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 4)]\npublic static partial class {|H3005:Encoder|} { }",
        "The H3 model class 'Encoder' cannot be static: a model is an instance (new Encoder(seed)); remove the 'static' modifier");

    [Fact]
    public void H3006_record_model() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 4)]\npublic partial record {|H3006:Encoder|} { }",
        "The H3 model 'Encoder' cannot be a record: the generator adds the members of a class; declare it as 'partial class Encoder'");

    [Fact]
    public void H3007_file_local_model_and_file_local_containing_type() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 4)]\nfile partial class {|H3007:Encoder|} { }\n"
        + "file partial class {|H3007:Outer|}\n{\n    [H3Model(EmbedDim = 3, Hidden = 4)]\n    public partial class Inner { }\n}",
        "'Encoder' cannot be file-local: the generated part of the H3 model 'Encoder' lives in another file; remove the 'file' modifier",
        "'Outer' cannot be file-local: the generated part of the H3 model 'Inner' lives in another file; remove the 'file' modifier");

    [Fact]
    public void H3008_members_that_clash_with_generated_ones_but_not_legal_overloads() => Verify(
        """
        [H3Model(EmbedDim = 3, Hidden = 4)]
        public partial class Encoder
        {
            public void {|H3008:Forward|}(ReadOnlySpan<float> input, Span<float> output, int batch) { }
            public void Forward(float[] input) { }
            public int {|H3008:Hidden|} => 4;
            public {|H3008:Encoder|}(int size) { }
            public Encoder(string name) { }
            private int {|H3008:__h3_cache|};
            public static void {|H3008:Tensors|}() { }
        }
        """,
        "'Encoder' already declares 'Forward', which the H3 generator adds (the method Forward(ReadOnlySpan<float>, Span<float>, int)); rename or remove it",
        "'Encoder' already declares 'Hidden', which the H3 generator adds (the constant Hidden); rename or remove it",
        "'Encoder' already declares 'Encoder(int)', which the H3 generator adds (the constructor Encoder(int seed = 0)); rename or remove it",
        "'Encoder' already declares '__h3_cache', which the H3 generator adds (names starting with __h3_ are reserved for its private members); rename or remove it",
        "'Encoder' already declares 'Tensors', which the H3 generator adds (the static property ReadOnlySpan<H3Tensor> Tensors); rename or remove it");

    [Fact]
    public void H3008_clash_in_another_partial_part_is_reported_in_that_part()
    {
        string model = "using H3;\n[H3Model(EmbedDim = 3, Hidden = 4)]\npublic partial class Encoder { }\n";
        string other = "public partial class Encoder\n{\n    public void SaveWeights(string path) { }\n}\n";
        AnalyzerRun run = AnalyzerHarness.Analyze(GeneratorHarness.CreateCompilation(model, other));
        Diagnostic clash = Assert.Single(run.H3Errors);
        Assert.Equal("H3008", clash.Id);
        Assert.Equal("Model1.cs", clash.Location.SourceTree!.FilePath);
        Assert.Equal("SaveWeights", clash.Location.SourceTree.ToString().Substring(clash.Location.SourceSpan.Start, clash.Location.SourceSpan.Length));
    }

    [Fact]
    public void H3009_model_named_like_a_generated_member() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 4)]\npublic partial class {|H3009:Forward|} { }",
        "The H3 model class cannot be named 'Forward': the generator adds a member named 'Forward', and a member cannot have the name of its class; rename the class");

    // ---- H3.Config ---------------------------------------------------------------------------------------------

    [Fact]
    public void H3010_EmbedDim_missing_on_the_attribute_name() => Verify(
        "[{|H3010:H3Model|}(Hidden = 4)]\npublic partial class Encoder { }",
        "[H3Model] on 'Encoder' does not set EmbedDim, the number of values per input frame; add EmbedDim = n with 1 <= n <= 65536");

    [Fact]
    public void H3010_positional_argument_is_not_EmbedDim() => Verify(
        "[{|H3010:H3Model|}(287)]\npublic partial class Encoder { }",
        "[H3Model] on 'Encoder' does not set EmbedDim, the number of values per input frame; add EmbedDim = n with 1 <= n <= 65536");

    public static TheoryData<string, string> OutOfRange => new()
    {
        { "EmbedDim = {|H3011:0|}", "EmbedDim = 0 is out of range; EmbedDim must be between 1 and 65,536" },
        { "EmbedDim = {|H3011:65537|}", "EmbedDim = 65537 is out of range; EmbedDim must be between 1 and 65,536" },
        { "EmbedDim = 3, Hidden = {|H3011:-4|}", "Hidden = -4 is out of range; Hidden must be between 1 and 65,536" },
        { "EmbedDim = 3, Hidden = {|H3011:int.MaxValue|}", "Hidden = 2147483647 is out of range; Hidden must be between 1 and 65,536" },
        { "EmbedDim = 3, State = {|H3011:0|}", "State = 0 is out of range; State must be between 2 and 1,024 (and even)" },
        { "EmbedDim = 3, State = {|H3011:1026|}", "State = 1026 is out of range; State must be between 2 and 1,024 (and even)" },
        { "EmbedDim = 3, Layers = {|H3011:0|}", "Layers = 0 is out of range; Layers must be between 1 and 256" },
        { "EmbedDim = 3, Layers = {|H3011:257|}", "Layers = 257 is out of range; Layers must be between 1 and 256" },
        { "EmbedDim = 3, WindowSize = {|H3011:0|}", "WindowSize = 0 is out of range; WindowSize must be between 1 and 1,048,576" },
        { "EmbedDim = 3, WindowSize = {|H3011:1048577|}", "WindowSize = 1048577 is out of range; WindowSize must be between 1 and 1,048,576" },
        { "EmbedDim = 3, ConvSize = {|H3011:-1|}", "ConvSize = -1 is out of range; ConvSize must be between 0 and WindowSize (60), 0 meaning no short convolution" },
        { "EmbedDim = 3, Hidden = 4, MaxParameters = {|H3011:0|}", "MaxParameters = 0 is out of range; MaxParameters must be between 1 and 9,223,372,036,854,775,807 (omit it for no budget)" },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void H3011_each_property_out_of_range_on_its_argument(string arguments, string message) => Verify(
        "[H3Model(" + arguments + ")]\npublic partial class Encoder { }", message);

    [Fact]
    public void H3011_reports_every_bad_property_at_once() => Verify(
        "[H3Model(EmbedDim = {|H3011:-1|}, Hidden = {|H3011:0|}, Layers = {|H3011:999|})]\npublic partial class Encoder { }",
        "EmbedDim = -1 is out of range; EmbedDim must be between 1 and 65,536",
        "Hidden = 0 is out of range; Hidden must be between 1 and 65,536",
        "Layers = 999 is out of range; Layers must be between 1 and 256");

    [Fact]
    public void H3012_odd_State() => Verify(
        "[H3Model(EmbedDim = 3, State = {|H3012:63|})]\npublic partial class Encoder { }",
        "State = 63 is odd; State must be even (N shift-SSM taps and N/2 complex diagonal modes): use 62 or 64");

    [Fact]
    public void H3013_ConvSize_above_WindowSize_on_ConvSize() => Verify(
        "[H3Model(EmbedDim = 3, ConvSize = {|H3013:5|}, WindowSize = 4)]\npublic partial class Encoder { }",
        "ConvSize = 5 exceeds WindowSize = 4; ConvSize must be between 0 (no short convolution) and WindowSize");

    [Fact]
    public void H3013_default_ConvSize_above_a_short_window_on_WindowSize() => Verify(
        "[H3Model(EmbedDim = 3, WindowSize = {|H3013:2|})]\npublic partial class Encoder { }",
        "ConvSize = 4 exceeds WindowSize = 2; ConvSize must be between 0 (no short convolution) and WindowSize");

    public static TheoryData<string, string> BadDropout => new()
    {
        { "1f", "1" },
        { "1", "1" },
        { "-0.5f", "-0.5" },
        { "float.NaN", "NaN" },
        { "float.PositiveInfinity", "Infinity" },
        { "1.5e38f * 10f", "Infinity" },
    };

    [Theory]
    [MemberData(nameof(BadDropout))]
    public void H3014_Dropout_outside_zero_to_one_including_NaN(string value, string shown) => Verify(
        "[H3Model(EmbedDim = 3, Dropout = {|H3014:" + value + "|})]\npublic partial class Encoder { }",
        $"Dropout = {shown} is not a probability in [0, 1); Dropout must satisfy 0 <= Dropout < 1 (0 disables dropout)");

    [Theory]
    [InlineData("1f", "1")]
    [InlineData("-0.5f", "-0.5")]
    [InlineData("float.NaN", "NaN")]
    public void H3019_EmbedDropout_outside_zero_to_one(string value, string shown) => Verify(
        "[H3Model(EmbedDim = 3, EmbedDropout = {|H3019:" + value + "|})]\npublic partial class Encoder { }",
        $"EmbedDropout = {shown} is not a probability in [0, 1); EmbedDropout must satisfy 0 <= EmbedDropout < 1 (0 disables it)");

    public static TheoryData<string, string> NotConstant => new()
    {
        { "EmbedDim = {|H3015:Sizes.Frame|}", "EmbedDim = Sizes.Frame is not a constant int: the generator reads the attribute at compile time, so EmbedDim needs a constant of type int (for example EmbedDim = 287)" },
        { "EmbedDim = {|H3015:3.5|}", "EmbedDim = 3.5 is not a constant int: the generator reads the attribute at compile time, so EmbedDim needs a constant of type int (for example EmbedDim = 287)" },
        { "EmbedDim = 3, Hidden = {|H3015:\"256\"|}", "Hidden = \"256\" is not a constant int: the generator reads the attribute at compile time, so Hidden needs a constant of type int (for example Hidden = 256)" },
        { "EmbedDim = 3, Layers = {|H3015:4L|}", "Layers = 4L is not a constant int: the generator reads the attribute at compile time, so Layers needs a constant of type int (for example Layers = 4)" },
        { "EmbedDim = 3, Dropout = {|H3015:0.1|}", "Dropout = 0.1 is not a constant float: the generator reads the attribute at compile time, so Dropout needs a constant of type float (for example Dropout = 0.1f)" },
        { "EmbedDim = 3, State = {|H3015:null|}", "State = null is not a constant int: the generator reads the attribute at compile time, so State needs a constant of type int (for example State = 64)" },
        { "EmbedDim = 3, MaxParameters = {|H3015:1e6|}", "MaxParameters = 1e6 is not a constant long: the generator reads the attribute at compile time, so MaxParameters needs a constant of type long (for example MaxParameters = 5_000_000)" },
    };

    [Theory]
    [MemberData(nameof(NotConstant))]
    public void H3015_non_constant_or_wrongly_typed_argument(string arguments, string message) => Verify(
        "public static class Sizes { public static int Frame = 3; }\n[H3Model(" + arguments + ")]\npublic partial class Encoder { }", message);

    [Fact]
    public void H3016_too_many_parameters_on_the_attribute_name() => Verify(
        "[{|H3016:H3Model|}(EmbedDim = 3, Hidden = 65536, Layers = 256)]\npublic partial class Encoder { }",
        "'Encoder' has 13,199,860,957,184 parameters, more than one float array can hold (2,147,483,591); reduce Hidden, Layers or State");

    [Fact]
    public void H3017_training_workspace_too_large_for_the_window() => Verify(
        "[H3Model(EmbedDim = 64, Hidden = 64, State = 2, ConvSize = 0, Layers = 1, WindowSize = {|H3017:1048576|})]\npublic partial class Encoder { }",
        "'Encoder' needs 2,522,874,272 floats of training workspace for a single 1,048,576-frame window, more than one float array can hold (2,147,483,591), so CreateWorkspace would always fail; reduce WindowSize, Hidden or Layers");

    [Fact]
    public void H3018_over_the_MaxParameters_budget_gives_count_and_budget() => Verify(
        "[H3Model(EmbedDim = 287, MaxParameters = {|H3018:3_000_000|})]\npublic partial class FrameEncoder { }",
        "'FrameEncoder' has 3,569,152 parameters, 569,152 over its budget MaxParameters = 3,000,000; reduce Hidden, Layers or State, or raise MaxParameters");

    [Theory]
    [InlineData("3_569_152")]
    [InlineData("4_000_000")]
    [InlineData("long.MaxValue")]
    public void MaxParameters_at_or_above_the_count_is_no_error(string budget)
    {
        AnalyzerRun run = Verify("[H3Model(EmbedDim = 287, MaxParameters = " + budget + ")]\npublic partial class FrameEncoder { }");
        Assert.Contains(run.H3, d => d.Id == "H3020");
    }

    // ---- H3.Performance ---------------------------------------------------------------------------------------

    [Fact]
    public void H3020_parameter_count_of_the_default_model_on_the_class_name() => Verify(
        "[{|H3022:H3Model|}(EmbedDim = 287)]\npublic partial class {|H3020:FrameEncoder|} { }",
        "State = 64 exceeds WindowSize = 60: the shift SSM's taps 60..63 never reach an output, and at initialisation (shift.B = e1) the matching 1,024 values per layer of shift.C get zero gradient; State = 60 avoids this, but State also sets the diagonal SSM's N/2 = 32 modes",
        "FrameEncoder: 3,569,152 parameters (13.6 MiB float32), 0.394 GFLOP per 60-frame window");

    [Fact]
    public void H3021_Hidden_not_a_multiple_of_the_vector_width() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = {|H3021:250|}, State = 8)]\npublic partial class Encoder { }",
        "Hidden = 250 is not a multiple of 8 (the Vector256 width): every H-wide row ends in a partial vector (250 = 31·8 + 2), so 6 of every 256 lanes are masked or recomputed; Hidden = 248 or 256 would vectorise exactly");

    [Fact]
    public void H3022_State_above_WindowSize_on_State() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 8, State = {|H3022:6|}, ConvSize = 2, WindowSize = 5)]\npublic partial class Encoder { }",
        "State = 6 exceeds WindowSize = 5: the shift SSM's tap 5 never reaches an output, and at initialisation (shift.B = e1) the matching 8 values per layer of shift.C get zero gradient; State = 4 avoids this, but State also sets the diagonal SSM's N/2 = 3 modes");

    [Fact]
    public void H3022_State_above_WindowSize_on_WindowSize_when_State_is_the_default() => Verify(
        "[H3Model(EmbedDim = 3, Hidden = 8, WindowSize = {|H3022:50|})]\npublic partial class Encoder { }",
        "State = 64 exceeds WindowSize = 50: the shift SSM's taps 50..63 never reach an output, and at initialisation (shift.B = e1) the matching 112 values per layer of shift.C get zero gradient; State = 50 avoids this, but State also sets the diagonal SSM's N/2 = 32 modes");

    [Fact]
    public void H3023_window_much_longer_than_the_state() => Verify(
        "[H3Model(EmbedDim = 16, Hidden = 16, State = 8, WindowSize = {|H3023:600|})]\npublic partial class Encoder { }",
        "WindowSize = 600 is more than 8·State = 64: the diagonal SSM runs as a causal convolution, O(T²) per window, with (T+1)/2 = 300.5 multiply-adds per output and channel where the N/2-mode recurrence needs about 2·N = 16 (18.8× as many); it takes 60% of the forward FLOPs");

    [Fact]
    public void Hints_are_info_and_never_block()
    {
        var (source, _) = Markup.Parse(Prefix + "[H3Model(EmbedDim = 16, Hidden = 250, State = 8, WindowSize = 600)]\npublic partial class Encoder { }");
        AnalyzerRun run = AnalyzerHarness.Analyze(source);
        Assert.Equal(new[] { "H3020", "H3021", "H3023" }, run.H3.Select(d => d.Id).OrderBy(i => i, StringComparer.Ordinal));
        Assert.All(run.H3, d => Assert.Equal(DiagnosticSeverity.Info, d.Severity));
    }

    // ---- More than one [H3Model] --------------------------------------------------------------------------------

    [Theory]
    [InlineData("[H3Model(EmbedDim = 3)]\n[H3Model(EmbedDim = 4)]\npublic partial class Encoder { }")]
    [InlineData("[H3Model(EmbedDim = 3)]\npublic partial class Encoder { }\n[H3Model(EmbedDim = -4)]\npublic partial class Encoder { }")]
    public void Two_attributes_are_the_compilers_CS0579_and_nothing_else(string declaration)
    {
        AnalyzerRun run = AnalyzerHarness.Analyze(Prefix + declaration);
        Assert.Empty(run.Exceptions);
        Assert.Contains(run.All, d => d.Id == "CS0579");
        Assert.Empty(run.H3);
        Assert.Empty(GeneratorHarness.Run(Prefix + declaration).Sources);
    }
}
