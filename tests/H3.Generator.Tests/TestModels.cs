using System.Collections.Generic;
using System.Linq;

namespace H3.Generator.Tests;

/// <summary>One user source with one [H3Model] class, and what the generator should make of it.</summary>
/// <param name="Name">Short test-case name.</param>
/// <param name="Source">The user's code: the model declaration plus a little code that uses the generated API.</param>
/// <param name="MetadataName">The model's metadata name for reflection (nested types use '+').</param>
/// <param name="HintName">The generated file's hint name.</param>
internal sealed record ModelCase(string Name, string Source, string MetadataName, string HintName, int E, int H, int N, int K, int L, int T)
{
    /// <summary>(E != H ? E·H + H : 0) + 2H + L·(12H² + 5HN + 16H + (K > 0 ? H·K + H : 0)), straight from H3-SPEC.md.</summary>
    public long ExpectedParameterCount
    {
        get
        {
            long e = E, h = H, n = N, k = K;
            long perLayer = 12 * h * h + 5 * h * n + 16 * h + (k > 0 ? h * k + h : 0);
            return (e != h ? e * h + h : 0) + 2 * h + L * perLayer;
        }
    }

    public override string ToString() => Name;
}

internal static class TestModels
{
    /// <summary>Code that exercises the generated public surface, so the compile tests cover it too.</summary>
    private static string Usage(string typeExpression) => $$"""

        internal static class Use_{{typeExpression.Replace('.', '_')}}
        {
            public static float[] Run()
            {
                var model = new {{typeExpression}}(seed: 1);
                float[] input = new float[2 * {{typeExpression}}.WindowSize * {{typeExpression}}.EmbedDim];
                float[] output = new float[2 * {{typeExpression}}.OutputSize];
                model.Forward(input, output, 2);
                global::H3.IH3Model asInterface = model;
                global::H3.H3ModelInfo info = asInterface.Info;
                int total = {{typeExpression}}.ParameterCount + {{typeExpression}}.FfnDim + {{typeExpression}}.Tensors.Length + info.ParameterCount;
                float p = {{typeExpression}}.DropoutRate;
                model.ZeroGradients();
                return total > 0 && p >= 0 && model.Parameters.Length == model.Gradients.Length ? output : new float[0];
            }
        }
        """;

    private static string Attribute(int e, int? h, int? n, int? k, int? l, int? t)
    {
        var parts = new List<string> { $"EmbedDim = {e}" };
        if (h is not null) parts.Add($"Hidden = {h}");
        if (n is not null) parts.Add($"State = {n}");
        if (k is not null) parts.Add($"ConvSize = {k}");
        if (l is not null) parts.Add($"Layers = {l}");
        if (t is not null) parts.Add($"WindowSize = {t}");
        return "[global::H3.H3Model(" + string.Join(", ", parts) + ")]";
    }

    /// <summary>A public model in a file-scoped namespace; null arguments are left at the attribute's defaults.</summary>
    public static ModelCase InNamespace(string name, string ns, string type, int e, int? h = null, int? n = null, int? k = null, int? l = null, int? t = null)
    {
        string source = $$"""
            namespace {{ns}};

            {{Attribute(e, h, n, k, l, t)}}
            public partial class {{type}} { }
            {{Usage(type)}}
            """;
        return Case(name, source, ns + "." + type, ns + "." + type + ".g.cs", e, h, n, k, l, t);
    }

    private static ModelCase Case(string name, string source, string metadataName, string hint, int e, int? h, int? n, int? k, int? l, int? t) =>
        new(name, source, metadataName, hint, e, h ?? H3Defaults.Hidden, n ?? H3Defaults.State, k ?? H3Defaults.ConvSize,
            l ?? H3Defaults.Layers, t ?? H3Defaults.WindowSize);

    /// <summary>E 3, H 4, N 2, K 2, L 1, T 3 in a namespace: small enough to read whole.</summary>
    public static readonly ModelCase Tiny = InNamespace("tiny", "Demo", "TinyModel", e: 3, h: 4, n: 2, k: 2, l: 1, t: 3);

    /// <summary>The seed's model, every property but EmbedDim at its default, in the global namespace like the sample.</summary>
    public static readonly ModelCase Default = Case("default", """
        using H3;

        [H3Model(EmbedDim = 287)]
        public partial class FrameEncoder { }
        """ + Usage("FrameEncoder"), "FrameEncoder", "FrameEncoder.g.cs", 287, null, null, null, null, null);

    /// <summary>A small model in the global namespace.</summary>
    public static readonly ModelCase GlobalNamespace = Case("global namespace", """
        [global::H3.H3Model(EmbedDim = 5, Hidden = 6, State = 4, ConvSize = 3, Layers = 2, WindowSize = 7)]
        partial class GlobalModel { }
        """ + Usage("GlobalModel"), "GlobalModel", "GlobalModel.g.cs", 5, 6, 4, 3, 2, 7);

    /// <summary>An internal model nested in a static partial class and a partial struct.</summary>
    public static readonly ModelCase Nested = Case("nested", """
        namespace Demo.Nested
        {
            public static partial class Outer
            {
                internal partial struct Holder
                {
                    [global::H3.H3Model(EmbedDim = 4, Hidden = 6, State = 4, ConvSize = 2, Layers = 1, WindowSize = 5)]
                    internal partial class NestedModel { }
                }
            }
        }
        """ + Usage("Demo.Nested.Outer.Holder.NestedModel"),
        "Demo.Nested.Outer+Holder+NestedModel", "Demo.Nested.Outer.Holder.NestedModel.g.cs", 4, 6, 4, 2, 1, 5);

    /// <summary>Configurations that reach every branch of the emitter (E == H, K = 0, scalar / V128 / V256 channel loops, odd sizes, T &lt; N).</summary>
    public static IEnumerable<ModelCase> CompileCases()
    {
        yield return Default;
        yield return Tiny;
        yield return InNamespace("E == H", "Demo.Same", "SameWidth", e: 8, h: 8, n: 4, k: 2, l: 2, t: 6);
        yield return InNamespace("K = 0", "Demo.NoConv", "NoConv", e: 5, h: 8, n: 4, k: 0, l: 1, t: 4);
        yield return InNamespace("H = 3", "Demo.Narrow", "Narrow", e: 2, h: 3, n: 2, k: 1, l: 1, t: 4);
        yield return InNamespace("odd E 7 H 9", "Demo.Odd", "OddSizes", e: 7, h: 9, n: 6, k: 3, l: 2, t: 5);
        yield return InNamespace("H 12, T < N", "Demo.Wide", "Wide", e: 13, h: 12, n: 16, k: 4, l: 1, t: 9);
        yield return InNamespace("H 1, T 1", "Demo.Minimal", "Minimal", e: 1, h: 1, n: 2, k: 1, l: 1, t: 1);
        yield return GlobalNamespace;
        yield return Nested;
    }

    public static IEnumerable<object[]> CompileCaseNames() => CompileCases().Select(c => new object[] { c.Name });

    public static ModelCase ByName(string name) => CompileCases().Single(c => c.Name == name);
}
