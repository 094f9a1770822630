using System;
using System.Collections.Generic;
using System.Linq;

namespace H3.Tests.Models;

/// <summary>
/// The generated layout against the test-side one (<see cref="H3Config.Layout"/>, written from H3-SPEC.md and
/// sharing nothing with the generator): the exact parameter count, every tensor's name, shape, order, offset,
/// length and optimizer group, the flat spans, and the generated constants.
/// </summary>
public class LayoutTests
{
    /// <summary>Every sweep model plus the default configuration.</summary>
    public static IEnumerable<object[]> AllNames()
    {
        foreach (object[] name in Sweep.Names()) yield return name;
        yield return new object[] { "Default" };
    }

    private static IH3Model Create(string name, int seed = 0) =>
        name == "Default" ? new DefaultModel(seed) : Sweep.Models[name](seed);

    // ---------------------------------------------------------------------------------------------------
    // Parameter count

    [Theory]
    [MemberData(nameof(AllNames))]
    public void ParameterCount_equals_the_spec_formula_and_the_layout_sum(string name)
    {
        IH3Model model = Create(name);
        H3Config c = Sweep.ConfigOf(model);
        long formula = H3Config.ParameterCountFormula(c);
        Assert.Equal(formula, model.Info.ParameterCount);
        Assert.Equal(formula, c.ParameterCount); // the test-side layout agrees with the test-side formula
        long sum = 0;
        foreach (H3Tensor t in model.Tensors) sum += t.Length;
        Assert.Equal(formula, sum);
    }

    [Fact]
    public void DefaultModel_has_3_569_152_parameters()
    {
        Assert.Equal(3_569_152, DefaultModel.ParameterCount);
        Assert.Equal(3_569_152, DefaultModel.Info.ParameterCount);
        Assert.Equal(3_569_152L, H3Config.ParameterCountFormula(H3Config.Default));
        Assert.Equal(3_569_152L, H3Config.Default.ParameterCount);
        Assert.Equal(H3Config.Default, Sweep.ConfigOf(new DefaultModel()));
    }

    [Fact]
    public void Static_ParameterCount_constants_equal_Info()
    {
        Assert.Equal(SweepA.ParameterCount, SweepA.Info.ParameterCount);
        Assert.Equal(SweepB.ParameterCount, SweepB.Info.ParameterCount);
        Assert.Equal(SweepC.ParameterCount, SweepC.Info.ParameterCount);
        Assert.Equal(SweepD.ParameterCount, SweepD.Info.ParameterCount);
        Assert.Equal(SweepE.ParameterCount, SweepE.Info.ParameterCount);
        Assert.Equal(SweepF.ParameterCount, SweepF.Info.ParameterCount);
        Assert.Equal(SweepG.ParameterCount, SweepG.Info.ParameterCount);
        Assert.Equal(SweepH.ParameterCount, SweepH.Info.ParameterCount);
        Assert.Equal(SweepI.ParameterCount, SweepI.Info.ParameterCount);
        Assert.Equal(SmallModel.ParameterCount, SmallModel.Info.ParameterCount);
        Assert.Equal(Nested.Outer.Inner.NestedModel.ParameterCount, Nested.Outer.Inner.NestedModel.Info.ParameterCount);
        Assert.Equal(DefaultModel.ParameterCount, DefaultModel.Info.ParameterCount);
    }

    // ---------------------------------------------------------------------------------------------------
    // Tensors

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Tensors_match_the_spec_layout_in_names_shapes_order_and_groups(string name)
    {
        IH3Model model = Create(name);
        var expected = Sweep.ConfigOf(model).Layout();
        H3Tensor[] actual = model.Tensors.ToArray();

        Assert.Equal(expected.Select(e => e.Name), actual.Select(t => t.Name));
        for (int i = 0; i < expected.Count; i++)
        {
            H3Tensor t = actual[i];
            Assert.True(expected[i].Shape.SequenceEqual(t.Shape),
                $"{name}: {t.Name} has shape {t.ShapeText}, expected [{string.Join(", ", expected[i].Shape)}]");
            Assert.Equal(expected[i].Group, t.Group);
            Assert.True(t.Group is H3Tensor.SsmGroup or H3Tensor.DefaultGroup, t.Group);
        }
        Assert.Equal(actual.Length, actual.Select(t => t.Name).Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Offsets_are_contiguous_from_zero_and_lengths_are_shape_products(string name)
    {
        IH3Model model = Create(name);
        int offset = 0;
        foreach (H3Tensor t in model.Tensors)
        {
            Assert.True(offset == t.Offset, $"{name}: {t.Name} at offset {t.Offset}, expected {offset}");
            long product = 1;
            foreach (int d in t.Shape)
            {
                Assert.True(d > 0, $"{name}: {t.Name} has a non-positive dimension in {t.ShapeText}");
                product *= d;
            }
            Assert.Equal(product, t.Length);
            offset += t.Length;
        }
        Assert.Equal(model.Info.ParameterCount, offset);
        Assert.Equal(model.Parameters.Length, offset);
    }

    [Fact]
    public void Static_Tensors_are_the_interface_Tensors()
    {
        var model = new SmallModel();
        Assert.Equal(SmallModel.Tensors.Length, ((IH3Model)model).Tensors.Length);
        for (int i = 0; i < SmallModel.Tensors.Length; i++) Assert.Same(SmallModel.Tensors[i], ((IH3Model)model).Tensors[i]);

        var other = new SmallModel(seed: 5);
        Assert.True(((IH3Model)model).Tensors == ((IH3Model)other).Tensors, "two instances should share the static layout");
    }

    [Fact]
    public void Tensor_shapes_cannot_be_modified()
    {
        H3Tensor t = SmallModel.Tensors[0];
        int[] before = t.Shape.ToArray();
        if (t.Shape is IList<int> list)
        {
            Assert.ThrowsAny<NotSupportedException>(() => list[0] = 1234);
        }
        Assert.Equal(before, t.Shape.ToArray());
    }

    [Fact]
    public void Models_with_E_equal_H_have_no_input_projection_and_K_0_has_no_conv()
    {
        // SweepB: E == H == 9; SweepD: E == H, K == 0; SweepG: E != H, K == 0.
        Assert.DoesNotContain(SweepB.Tensors.ToArray(), t => t.Name.StartsWith("input_proj", StringComparison.Ordinal));
        Assert.DoesNotContain(SweepD.Tensors.ToArray(), t => t.Name.Contains("conv", StringComparison.Ordinal));
        Assert.Contains(SweepG.Tensors.ToArray(), t => t.Name == "input_proj.weight" && t.Shape.SequenceEqual(new[] { 12, 20 }));
        Assert.DoesNotContain(SweepG.Tensors.ToArray(), t => t.Name.Contains("conv", StringComparison.Ordinal));
        Assert.Contains(SweepH.Tensors.ToArray(), t => t.Name == "layers.0.mixer.conv.weight" && t.Shape.SequenceEqual(new[] { 8, 1, 1 }));
        Assert.Equal("input_proj.weight", DefaultModel.Tensors[0].Name);
        Assert.Equal(new[] { 256, 287 }, DefaultModel.Tensors[0].Shape.ToArray());
        Assert.Equal("final_norm.bias", DefaultModel.Tensors[^1].Name);
    }

    // ---------------------------------------------------------------------------------------------------
    // Parameters and gradients

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Parameters_and_Gradients_have_ParameterCount_floats_in_separate_stable_storage(string name)
    {
        IH3Model model = Create(name);
        int count = model.Info.ParameterCount;
        Assert.Equal(count, model.Parameters.Length);
        Assert.Equal(count, model.Gradients.Length);
        Assert.False(model.Parameters.Overlaps(model.Gradients), "Parameters and Gradients share memory");
        Assert.All(model.Gradients.ToArray(), g => Assert.Equal(0f, g)); // a fresh model has no gradient

        // The spans view the model's storage: writes are seen by later reads.
        float[] before = model.Parameters.ToArray();
        model.Parameters[count - 1] = 42.5f;
        model.Gradients[0] = -3f;
        Assert.Equal(42.5f, model.Parameters[count - 1]);
        Assert.Equal(-3f, model.Gradients[0]);
        Assert.Equal(before[0], model.Parameters[0]);
        Assert.True(model.Parameters == model.Parameters, "Parameters should return the same memory each time");
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void ZeroGradients_zeroes_every_gradient_and_leaves_Parameters(string name)
    {
        IH3Model model = Create(name, seed: 3);
        Span<float> g = model.Gradients;
        for (int i = 0; i < g.Length; i++) g[i] = i % 3 == 0 ? float.NaN : i + 0.5f;
        g[^1] = -0f;
        byte[] parameters = Bytes(model.Parameters);

        model.ZeroGradients();

        foreach (float v in model.Gradients)
        {
            Assert.Equal(0u, BitConverter.SingleToUInt32Bits(v)); // +0, not -0 or NaN
        }
        Assert.Equal(parameters, Bytes(model.Parameters));
        model.ZeroGradients(); // idempotent
        Assert.All(model.Gradients.ToArray(), v => Assert.Equal(0f, v));
    }

    // ---------------------------------------------------------------------------------------------------
    // Constants

    /// <summary>One model's generated constants, read directly from the class.</summary>
    private sealed record Constants(string Model, int EmbedDim, int Hidden, int State, int ConvSize, int Layers, int WindowSize,
        int FfnDim, int OutputSize, float DropoutRate, H3ModelInfo Info);

    private static Constants[] Generated() =>
    [
        new("A", SweepA.EmbedDim, SweepA.Hidden, SweepA.State, SweepA.ConvSize, SweepA.Layers, SweepA.WindowSize, SweepA.FfnDim, SweepA.OutputSize, SweepA.DropoutRate, SweepA.Info),
        new("B", SweepB.EmbedDim, SweepB.Hidden, SweepB.State, SweepB.ConvSize, SweepB.Layers, SweepB.WindowSize, SweepB.FfnDim, SweepB.OutputSize, SweepB.DropoutRate, SweepB.Info),
        new("C", SweepC.EmbedDim, SweepC.Hidden, SweepC.State, SweepC.ConvSize, SweepC.Layers, SweepC.WindowSize, SweepC.FfnDim, SweepC.OutputSize, SweepC.DropoutRate, SweepC.Info),
        new("D", SweepD.EmbedDim, SweepD.Hidden, SweepD.State, SweepD.ConvSize, SweepD.Layers, SweepD.WindowSize, SweepD.FfnDim, SweepD.OutputSize, SweepD.DropoutRate, SweepD.Info),
        new("E", SweepE.EmbedDim, SweepE.Hidden, SweepE.State, SweepE.ConvSize, SweepE.Layers, SweepE.WindowSize, SweepE.FfnDim, SweepE.OutputSize, SweepE.DropoutRate, SweepE.Info),
        new("F", SweepF.EmbedDim, SweepF.Hidden, SweepF.State, SweepF.ConvSize, SweepF.Layers, SweepF.WindowSize, SweepF.FfnDim, SweepF.OutputSize, SweepF.DropoutRate, SweepF.Info),
        new("G", SweepG.EmbedDim, SweepG.Hidden, SweepG.State, SweepG.ConvSize, SweepG.Layers, SweepG.WindowSize, SweepG.FfnDim, SweepG.OutputSize, SweepG.DropoutRate, SweepG.Info),
        new("H", SweepH.EmbedDim, SweepH.Hidden, SweepH.State, SweepH.ConvSize, SweepH.Layers, SweepH.WindowSize, SweepH.FfnDim, SweepH.OutputSize, SweepH.DropoutRate, SweepH.Info),
        new("I", SweepI.EmbedDim, SweepI.Hidden, SweepI.State, SweepI.ConvSize, SweepI.Layers, SweepI.WindowSize, SweepI.FfnDim, SweepI.OutputSize, SweepI.DropoutRate, SweepI.Info),
        new("Small", SmallModel.EmbedDim, SmallModel.Hidden, SmallModel.State, SmallModel.ConvSize, SmallModel.Layers, SmallModel.WindowSize, SmallModel.FfnDim, SmallModel.OutputSize, SmallModel.DropoutRate, SmallModel.Info),
        new("Nested", Nested.Outer.Inner.NestedModel.EmbedDim, Nested.Outer.Inner.NestedModel.Hidden, Nested.Outer.Inner.NestedModel.State,
            Nested.Outer.Inner.NestedModel.ConvSize, Nested.Outer.Inner.NestedModel.Layers, Nested.Outer.Inner.NestedModel.WindowSize,
            Nested.Outer.Inner.NestedModel.FfnDim, Nested.Outer.Inner.NestedModel.OutputSize, Nested.Outer.Inner.NestedModel.DropoutRate,
            Nested.Outer.Inner.NestedModel.Info),
        new("Default", DefaultModel.EmbedDim, DefaultModel.Hidden, DefaultModel.State, DefaultModel.ConvSize, DefaultModel.Layers, DefaultModel.WindowSize, DefaultModel.FfnDim, DefaultModel.OutputSize, DefaultModel.DropoutRate, DefaultModel.Info),
    ];

    /// <summary>The attributes' values as written in SweepModels.cs and NestedModel.cs (E, H, N, K, L, T, p).</summary>
    private static readonly Dictionary<string, (int E, int H, int N, int K, int L, int T, float P)> Declared = new()
    {
        ["A"] = (7, 9, 2, 1, 1, 17, 0.1f),
        ["B"] = (9, 9, 6, 4, 2, 17, 0.1f),
        ["C"] = (7, 9, 64, 4, 2, 60, 0.1f),
        ["D"] = (5, 5, 6, 0, 1, 2, 0.1f),
        ["E"] = (3, 3, 2, 1, 2, 1, 0.1f),
        ["F"] = (16, 16, 64, 4, 2, 17, 0.1f),
        ["G"] = (20, 12, 6, 0, 2, 60, 0.1f),
        ["H"] = (1, 8, 2, 1, 1, 60, 0.1f),
        ["I"] = (33, 40, 64, 1, 1, 2, 0.1f),
        ["Small"] = (7, 8, 4, 3, 2, 12, 0f),
        ["Nested"] = (4, 6, 4, 2, 1, 5, 0.1f),
        ["Default"] = (287, 256, 64, 4, 4, 60, 0.1f),
    };

    [Fact]
    public void Constants_have_the_attribute_values()
    {
        Constants[] all = Generated();
        Assert.Equal(Declared.Keys.OrderBy(k => k, StringComparer.Ordinal), all.Select(c => c.Model).OrderBy(k => k, StringComparer.Ordinal));
        foreach (Constants c in all)
        {
            var d = Declared[c.Model];
            Assert.True((d.E, d.H, d.N, d.K, d.L, d.T) == (c.EmbedDim, c.Hidden, c.State, c.ConvSize, c.Layers, c.WindowSize),
                $"{c.Model}: constants ({c.EmbedDim}, {c.Hidden}, {c.State}, {c.ConvSize}, {c.Layers}, {c.WindowSize}), declared {d}");
            Assert.Equal(4 * d.H, c.FfnDim);
            Assert.Equal(d.H, c.OutputSize);
            Assert.Equal(BitConverter.SingleToUInt32Bits(d.P), BitConverter.SingleToUInt32Bits(c.DropoutRate));

            H3ModelInfo i = c.Info;
            Assert.Equal(new H3ModelInfo(c.EmbedDim, c.Hidden, c.State, c.ConvSize, c.Layers, c.WindowSize, c.DropoutRate, i.ParameterCount), i);
            Assert.Equal(c.FfnDim, i.FfnDim);
            Assert.Equal(c.OutputSize, i.OutputSize);
        }
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Interface_Info_equals_the_declared_configuration(string name)
    {
        H3ModelInfo i = Create(name).Info;
        var d = Declared[name];
        Assert.Equal((d.E, d.H, d.N, d.K, d.L, d.T, d.P), (i.EmbedDim, i.Hidden, i.State, i.ConvSize, i.Layers, i.WindowSize, i.Dropout));
    }

    [Fact]
    public void DefaultModel_constants_are_the_H3Defaults()
    {
        Assert.Equal(287, DefaultModel.EmbedDim);
        Assert.Equal(H3Defaults.Hidden, DefaultModel.Hidden);
        Assert.Equal(H3Defaults.State, DefaultModel.State);
        Assert.Equal(H3Defaults.ConvSize, DefaultModel.ConvSize);
        Assert.Equal(H3Defaults.Layers, DefaultModel.Layers);
        Assert.Equal(H3Defaults.WindowSize, DefaultModel.WindowSize);
        Assert.Equal(4 * H3Defaults.Hidden, DefaultModel.FfnDim);
        Assert.Equal(H3Defaults.Hidden, DefaultModel.OutputSize);
        Assert.Equal(BitConverter.SingleToUInt32Bits(H3Defaults.Dropout), BitConverter.SingleToUInt32Bits(DefaultModel.DropoutRate));

        // And the H3Defaults are the spec's table.
        Assert.Equal((256, 64, 4, 4, 60), (H3Defaults.Hidden, H3Defaults.State, H3Defaults.ConvSize, H3Defaults.Layers, H3Defaults.WindowSize));
        Assert.Equal(0.1f, H3Defaults.Dropout);
    }

    [Fact]
    public void SmallModel_has_no_dropout()
    {
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(SmallModel.DropoutRate));
        Assert.Equal(0f, SmallModel.Info.Dropout);
    }

    private static byte[] Bytes(ReadOnlySpan<float> values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray();
}
