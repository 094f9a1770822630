using System;
using System.Collections.Generic;

namespace H3.Tests.Models;

// The configuration sweep of the forward tests. Together the models hit every branch and tail of the
// generator: E == H and E != H; H below one Vector128 (scalar loops), below one Vector256, odd (overlapping
// last vector), a multiple of 8; N ∈ {2, 4, 6, 64}; K ∈ {0, 1, 3, 4}; T ∈ {1, 2, 12, 17, 60} with T < N;
// L ∈ {1, 2}; reduction lengths (E, H, F) shorter than a vector, with masked tails, and without tails.
[H3Model(EmbedDim = 7, Hidden = 9, State = 2, ConvSize = 1, Layers = 1, WindowSize = 17)]
public partial class SweepA { }

[H3Model(EmbedDim = 9, Hidden = 9, State = 6, ConvSize = 4, Layers = 2, WindowSize = 17)]
public partial class SweepB { }

[H3Model(EmbedDim = 7, Hidden = 9, State = 64, ConvSize = 4, Layers = 2, WindowSize = 60)]
public partial class SweepC { }

[H3Model(EmbedDim = 5, Hidden = 5, State = 6, ConvSize = 0, Layers = 1, WindowSize = 2)]
public partial class SweepD { }

[H3Model(EmbedDim = 3, Hidden = 3, State = 2, ConvSize = 1, Layers = 2, WindowSize = 1)]
public partial class SweepE { }

[H3Model(EmbedDim = 16, Hidden = 16, State = 64, ConvSize = 4, Layers = 2, WindowSize = 17)]
public partial class SweepF { }

[H3Model(EmbedDim = 20, Hidden = 12, State = 6, ConvSize = 0, Layers = 2, WindowSize = 60)]
public partial class SweepG { }

[H3Model(EmbedDim = 1, Hidden = 8, State = 2, ConvSize = 1, Layers = 1, WindowSize = 60)]
public partial class SweepH { }

[H3Model(EmbedDim = 33, Hidden = 40, State = 64, ConvSize = 1, Layers = 1, WindowSize = 2)]
public partial class SweepI { }

/// <summary>The configuration of the independent reference vectors (tests/H3.Tests/TestData/small).</summary>
[H3Model(EmbedDim = 7, Hidden = 8, State = 4, ConvSize = 3, Layers = 2, WindowSize = 12, Dropout = 0f)]
public partial class SmallModel { }

/// <summary>The seed's default configuration.</summary>
[H3Model(EmbedDim = 287)]
public partial class DefaultModel { }

/// <summary>Factories for the sweep, so tests can iterate over every generated model.</summary>
public static class Sweep
{
    public static readonly Dictionary<string, Func<int, IH3Model>> Models = new()
    {
        ["A"] = seed => new SweepA(seed),
        ["B"] = seed => new SweepB(seed),
        ["C"] = seed => new SweepC(seed),
        ["D"] = seed => new SweepD(seed),
        ["E"] = seed => new SweepE(seed),
        ["F"] = seed => new SweepF(seed),
        ["G"] = seed => new SweepG(seed),
        ["H"] = seed => new SweepH(seed),
        ["I"] = seed => new SweepI(seed),
        ["Small"] = seed => new SmallModel(seed),
        ["Nested"] = seed => new Nested.Outer.Inner.NestedModel(seed),
    };

    public static IEnumerable<object[]> Names()
    {
        foreach (string name in Models.Keys) yield return new object[] { name };
    }

    public static IEnumerable<object[]> NamesAndBatches()
    {
        foreach (string name in Models.Keys)
        {
            yield return new object[] { name, 1 };
            yield return new object[] { name, 3 };
        }
    }

    public static H3Config ConfigOf(IH3Model model)
    {
        H3ModelInfo i = model.Info;
        return new H3Config(i.EmbedDim, i.Hidden, i.State, i.ConvSize, i.Layers, i.WindowSize);
    }

    /// <summary>
    /// Moves a freshly initialised model away from the special values of its initialisation (B = e1,
    /// B = 1 + 0i, zero biases, unit norms) so every term of the math matters: N(0, 0.1²) is added to every
    /// parameter, and Linear weights are redrawn with standard deviation 1/√fan_in so activations stay O(1).
    /// </summary>
    public static void Perturb(IH3Model model, int seed)
    {
        var rng = new H3Random(seed, 12345);
        Span<float> p = model.Parameters;
        foreach (H3Tensor t in model.Tensors)
        {
            Span<float> s = p.Slice(t.Offset, t.Length);
            bool linearWeight = t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Count == 2;
            for (int i = 0; i < s.Length; i++)
            {
                if (linearWeight) s[i] = (float)(rng.NextGaussian() / Math.Sqrt(t.Shape[1]));
                else s[i] += (float)(0.1 * rng.NextGaussian());
            }
        }
    }

    public static float[] RandomInput(int length, int seed)
    {
        var rng = new H3Random(seed, 777);
        var x = new float[length];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextGaussian();
        return x;
    }
}
