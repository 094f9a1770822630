using System.Collections.Generic;
using H3.Generator.Parsing;

namespace H3.Generator.Diagnostics;

/// <summary>One broken configuration rule: which attribute property and why.</summary>
internal readonly record struct ConfigProblem(string Property, string Message);

/// <summary>
/// The one set of configuration rules of H3-SPEC.md. The generator skips a model that breaks any of them
/// (an analyzer reports them); keeping both on this single function means they can never disagree.
/// </summary>
internal static class H3ConfigRules
{
    public const int MaxDim = 65536, MinState = 2, MaxState = 1024, MaxLayers = 256, MaxWindow = 1_048_576;

    /// <summary>Largest parameter count a single float[] can hold (Array.MaxLength).</summary>
    public const long MaxParameters = 0x7FFFFFC7;

    public static List<ConfigProblem> Validate(H3Config c)
    {
        var problems = new List<ConfigProblem>();
        if (c.E < 1 || c.E > MaxDim) problems.Add(new("EmbedDim", $"EmbedDim is {Format.Int(c.E)}; it must be between 1 and {Format.Int(MaxDim)}"));
        if (c.H < 1 || c.H > MaxDim) problems.Add(new("Hidden", $"Hidden is {Format.Int(c.H)}; it must be between 1 and {Format.Int(MaxDim)}"));
        if (c.N < MinState || c.N > MaxState) problems.Add(new("State", $"State is {Format.Int(c.N)}; it must be an even number between {Format.Int(MinState)} and {Format.Int(MaxState)}"));
        else if (c.N % 2 != 0) problems.Add(new("State", $"State is {Format.Int(c.N)}; it must be even (N taps for the shift SSM, N/2 complex modes for the diagonal SSM)"));
        if (c.L < 1 || c.L > MaxLayers) problems.Add(new("Layers", $"Layers is {Format.Int(c.L)}; it must be between 1 and {Format.Int(MaxLayers)}"));
        if (c.T < 1 || c.T > MaxWindow) problems.Add(new("WindowSize", $"WindowSize is {Format.Int(c.T)}; it must be between 1 and {Format.Int(MaxWindow)}"));
        if (c.K < 0) problems.Add(new("ConvSize", $"ConvSize is {Format.Int(c.K)}; it must be between 0 (no short convolution) and WindowSize"));
        else if (c.T >= 1 && c.K > c.T) problems.Add(new("ConvSize", $"ConvSize is {Format.Int(c.K)}; it must not exceed WindowSize ({Format.Int(c.T)})"));
        if (!(c.P >= 0f && c.P < 1f)) problems.Add(new("Dropout", $"Dropout is {c.P.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}; it must satisfy 0 <= Dropout < 1"));
        if (problems.Count == 0 && c.ParameterCount > MaxParameters)
            problems.Add(new("Hidden", "the model has " + Format.Thousands(c.ParameterCount) + " parameters; a float array holds at most " + Format.Thousands(MaxParameters)));
        return problems;
    }
}
