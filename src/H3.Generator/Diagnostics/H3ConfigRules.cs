using System;
using System.Collections.Generic;
using System.Globalization;
using H3.Generator.Parsing;
using Microsoft.CodeAnalysis;

namespace H3.Generator.Diagnostics;

/// <summary>
/// One finding about a configuration: the rule, where to put the squiggle and the message arguments.
/// </summary>
/// <param name="Rule">The descriptor (its ID, severity and message format).</param>
/// <param name="Properties">
/// The attribute properties to squiggle, in order of preference: the first one the attribute sets explicitly gets
/// the squiggle; when it sets none of them (a default is at fault, or the problem has no single property), the
/// attribute's name does.
/// </param>
/// <param name="Args">The message arguments, already formatted with the invariant culture.</param>
internal sealed record ConfigProblem(DiagnosticDescriptor Rule, IReadOnlyList<string> Properties, IReadOnlyList<string> Args);

/// <summary>
/// The one set of configuration rules of H3-SPEC.md. Pure: numbers in, findings out, no Roslyn state. The analyzer
/// reports what <see cref="Validate"/> finds and the generator skips a model for which it finds anything, so the
/// two can never disagree. <see cref="Hints"/> and <see cref="Summary"/> are the Info diagnostics of a valid model.
/// </summary>
internal static class H3ConfigRules
{
    public const int MaxDim = 65536, MinState = 2, MaxState = 1024, MaxLayers = 256, MaxWindow = 1_048_576;

    /// <summary>Largest parameter count a single float[] can hold (Array.MaxLength).</summary>
    public const long MaxParameters = 0x7FFFFFC7;

    /// <summary>
    /// Largest training workspace for one window (batch 1), in floats: the workspace is one float[], so beyond
    /// Array.MaxLength <c>CreateWorkspace</c> can never succeed.
    /// </summary>
    public const long MaxWorkspaceFloats = MaxParameters;

    /// <summary>The SIMD width of the generated kernels on AVX2 machines: 8 floats of a Vector256.</summary>
    public const int VectorWidth = 8;

    /// <summary>
    /// The configuration errors of one model, empty when it can be generated.
    /// </summary>
    /// <param name="c">The attribute's numbers (defaults for what it does not set).</param>
    /// <param name="modelName">The class name, for messages.</param>
    /// <param name="hasEmbedDim">Whether the attribute sets EmbedDim (it is required).</param>
    /// <param name="maxParameters">The attribute's MaxParameters budget, when set.</param>
    public static List<ConfigProblem> Validate(H3Config c, string modelName, bool hasEmbedDim = true, long? maxParameters = null)
    {
        var problems = new List<ConfigProblem>();
        void Add(DiagnosticDescriptor rule, string[] properties, params string[] args) => problems.Add(new ConfigProblem(rule, properties, args));
        void Range(string property, long value, long min, string max, string note = "") =>
            Add(H3Descriptors.ValueOutOfRange, new[] { property }, property, Format.Int(value), Format.Thousands(min), max, note);

        if (!hasEmbedDim) Add(H3Descriptors.EmbedDimMissing, Array.Empty<string>(), modelName);
        else if (c.E < 1 || c.E > MaxDim) Range("EmbedDim", c.E, 1, Format.Thousands(MaxDim));
        if (c.H < 1 || c.H > MaxDim) Range("Hidden", c.H, 1, Format.Thousands(MaxDim));
        if (c.N < MinState || c.N > MaxState) Range("State", c.N, MinState, Format.Thousands(MaxState), " (and even)");
        else if (c.N % 2 != 0) Add(H3Descriptors.StateOdd, new[] { "State" }, Format.Int(c.N), EvenNeighbours(c.N));
        if (c.L < 1 || c.L > MaxLayers) Range("Layers", c.L, 1, Format.Thousands(MaxLayers));
        bool windowValid = c.T >= 1 && c.T <= MaxWindow;
        if (!windowValid) Range("WindowSize", c.T, 1, Format.Thousands(MaxWindow));
        if (c.K < 0) Range("ConvSize", c.K, 0, windowValid ? "WindowSize (" + Format.Thousands(c.T) + ")" : "WindowSize", ", 0 meaning no short convolution");
        else if (windowValid && c.K > c.T) Add(H3Descriptors.ConvSizeExceedsWindow, new[] { "ConvSize", "WindowSize" }, Format.Int(c.K), Format.Int(c.T));
        if (!(c.P >= 0f && c.P < 1f)) Add(H3Descriptors.DropoutOutOfRange, new[] { "Dropout" }, FloatText(c.P));
        if (!(c.EmbedP >= 0f && c.EmbedP < 1f)) Add(H3Descriptors.EmbedDropoutOutOfRange, new[] { "EmbedDropout" }, FloatText(c.EmbedP));
        if (maxParameters is < 1) Range("MaxParameters", maxParameters.Value, 1, Format.Thousands(long.MaxValue), " (omit it for no budget)");

        // Sizes are only meaningful (and only free of overflow) once every number is inside its range.
        if (problems.Count != 0 || !hasEmbedDim) return problems;
        long count = c.ParameterCount;
        if (count > MaxParameters)
        {
            Add(H3Descriptors.TooManyParameters, Array.Empty<string>(), modelName, Format.Thousands(count), Format.Thousands(MaxParameters));
            return problems;
        }
        long workspace = c.TrainingWorkspaceFloats(1);
        if (workspace > MaxWorkspaceFloats)
            Add(H3Descriptors.WorkspaceTooLarge, new[] { "WindowSize" }, modelName, Format.Thousands(workspace), Format.Thousands(c.T), Format.Thousands(MaxWorkspaceFloats));
        if (maxParameters is long budget && count > budget)
            Add(H3Descriptors.OverParameterBudget, new[] { "MaxParameters" }, modelName, Format.Thousands(count), Format.Thousands(count - budget), Format.Thousands(budget));
        return problems;
    }

    /// <summary>
    /// Performance hints (Info) for a configuration that <see cref="Validate"/> accepts: legal, but slower or more
    /// wasteful than it needs to be. Never errors.
    /// </summary>
    public static List<ConfigProblem> Hints(H3Config c)
    {
        var hints = new List<ConfigProblem>();

        // Vector tails: every H-wide loop pays a partial last vector (masked in reductions, overlapped elsewhere).
        // Below one vector (H < 8) the kernels use Vector128 or scalar loops instead, so there is nothing to say.
        int tail = c.H % VectorWidth;
        if (c.H > VectorWidth && tail != 0)
        {
            int vectors = c.H / VectorWidth, lanes = (vectors + 1) * VectorWidth;
            string better = "Hidden = " + Format.Int(vectors * VectorWidth) + " or " + Format.Int(lanes);
            hints.Add(new ConfigProblem(H3Descriptors.HiddenNotVectorMultiple, new[] { "Hidden" },
                new[] { Format.Int(c.H), Format.Int(vectors), Format.Int(tail), Format.Int(VectorWidth - tail), Format.Int(lanes), better }));
        }

        // Shift-SSM taps j >= T never touch an output: Ks[h, j] is only needed for j < min(N, T). With B = e1 (the
        // initialisation) tap j is C[h, j], so C[h, T..N-1] has gradient 0 until B leaves e1. T < 2 has no even
        // State <= T to suggest, so nothing is said there.
        if (c.N > c.T && c.T >= 2)
        {
            string taps = c.N - c.T == 1 ? "tap " + Format.Int(c.T) + " never reaches" : "taps " + Format.Int(c.T) + ".." + Format.Int(c.N - 1) + " never reach";
            hints.Add(new ConfigProblem(H3Descriptors.StateExceedsWindow, new[] { "State", "WindowSize" },
                new[] { Format.Int(c.N), Format.Int(c.T), taps, Format.Thousands((long)c.H * (c.N - c.T)), Format.Int(c.Modes), Format.Int(c.T - c.T % 2) }));
        }

        // The diagonal SSM as a causal convolution costs (T+1)/2 multiply-adds per output against about 2N for the
        // complex recurrence (N/2 modes, 4 real multiply-adds each): past T = 8N it is more than twice as much.
        if ((long)c.T > 8L * c.N)
        {
            double perOutput = (c.T + 1) / 2.0, recurrence = 2.0 * c.N;
            double share = c.DiagonalSsmFlopsPerWindow / c.ForwardFlopsPerWindow;
            hints.Add(new ConfigProblem(H3Descriptors.QuadraticWindow, new[] { "WindowSize", "State" },
                new[]
                {
                    Format.Int(c.T), Format.Thousands(8L * c.N), perOutput.ToString("#,0.#", CultureInfo.InvariantCulture),
                    Format.Thousands((long)recurrence), (perOutput / recurrence).ToString("#,0.0", CultureInfo.InvariantCulture),
                    share.ToString("0%", CultureInfo.InvariantCulture),
                }));
        }
        return hints;
    }

    /// <summary>
    /// The size report of a valid model (H3020): "FrameEncoder: 3,569,152 parameters (13.6 MiB float32), 0.394 GFLOP
    /// per 60-frame window". FLOPs are <see cref="H3Config.ForwardFlopsPerWindow"/> for one window (batch 1).
    /// </summary>
    public static ConfigProblem Summary(H3Config c, string modelName) =>
        new(H3Descriptors.ParameterCount, Array.Empty<string>(),
            new[] { modelName, Format.Thousands(c.ParameterCount), BytesText(c.ParameterCount * 4L), FlopsText(c.ForwardFlopsPerWindow), Format.Thousands(c.T) });

    /// <summary>"13.6 MiB", "2.50 GiB", "1.2 KiB", "96 bytes" (binary units, invariant culture).</summary>
    public static string BytesText(long bytes)
    {
        const double KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;
        if (bytes >= GiB) return (bytes / GiB).ToString("#,0.00", CultureInfo.InvariantCulture) + " GiB";
        if (bytes >= MiB) return (bytes / MiB).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
        if (bytes >= KiB) return (bytes / KiB).ToString("0.0", CultureInfo.InvariantCulture) + " KiB";
        return Format.Int(bytes) + " bytes";
    }

    /// <summary>"0.394 GFLOP", "12.345 MFLOP", "9,876 FLOP" (decimal units, invariant culture).</summary>
    public static string FlopsText(double flops)
    {
        if (flops >= 1e8) return (flops / 1e9).ToString("#,0.000", CultureInfo.InvariantCulture) + " GFLOP";
        if (flops >= 1e5) return (flops / 1e6).ToString("#,0.000", CultureInfo.InvariantCulture) + " MFLOP";
        return ((long)Math.Round(flops)).ToString("N0", CultureInfo.InvariantCulture) + " FLOP";
    }

    /// <summary>A float as C# would print it, culture-independent ("0.1", "NaN", "-Infinity").</summary>
    public static string FloatText(float value) =>
        float.IsNaN(value) ? "NaN"
        : float.IsPositiveInfinity(value) ? "Infinity"
        : float.IsNegativeInfinity(value) ? "-Infinity"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static string EvenNeighbours(int n) =>
        n - 1 < MinState ? Format.Int(n + 1) : Format.Int(n - 1) + " or " + Format.Int(n + 1);
}
