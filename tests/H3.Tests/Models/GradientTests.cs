using System;
using System.Collections.Generic;
using System.Linq;
using Xunit.Abstractions;

namespace H3.Tests.Models;

/// <summary>
/// The generated Backward against central finite differences of the float64 reference (H3Reference), for
/// every tensor of the sweep models, both output modes, batch 1 and 3, and the input gradient; and against
/// the independent gradient vectors of TestData/small.
/// </summary>
public sealed class GradientTests
{
    private readonly ITestOutputHelper _out;

    public GradientTests(ITestOutputHelper output) => _out = output;

    public static IEnumerable<object[]> Cases()
    {
        foreach (string name in Sweep.Models.Keys)
            foreach (int batch in new[] { 1, 3 })
                foreach (bool sequence in new[] { false, true })
                    yield return new object[] { name, batch, sequence };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backward_matches_finite_differences_of_the_reference(string name, int batch, bool sequence)
    {
        IH3Model model = Sweep.Models[name](7);
        Sweep.Perturb(model, seed: 8);
        H3Config c = Sweep.ConfigOf(model);
        float[] input = Sweep.RandomInput(batch * c.T * c.E, seed: 9);
        int outLength = sequence ? batch * c.T * c.H : batch * c.H;
        float[] r = Sweep.RandomInput(outLength, seed: 10);

        // Generated gradients (dropout off so the function is the reference's).
        H3Workspace ws = model.CreateWorkspace(batch);
        var output = new float[outLength];
        var dInput = new float[input.Length];
        model.ZeroGradients();
        if (sequence)
        {
            model.ForwardSequence(input, output, batch, ws, training: false);
            model.BackwardSequence(r, ws, dInput);
        }
        else
        {
            model.Forward(input, output, batch, ws, training: false);
            model.Backward(r, ws, dInput);
        }
        float[] grads = model.Gradients.ToArray();

        // Reference loss Σ output ⊙ R in float64.
        var weights = H3Reference.FromFlat(c, model.Parameters);
        double[] u = input.Select(v => (double)v).ToArray();
        double Loss()
        {
            double[] y = sequence ? H3Reference.ForwardAll(c, weights, u, batch) : H3Reference.Forward(c, weights, u, batch);
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += y[i] * r[i];
            return sum;
        }

        // The training forward's output equals the reference too.
        double[] yRef = sequence ? H3Reference.ForwardAll(c, weights, u, batch) : H3Reference.Forward(c, weights, u, batch);
        double yScale = Math.Max(1, yRef.Max(Math.Abs));
        for (int i = 0; i < yRef.Length; i++) Assert.True(Math.Abs(output[i] - yRef[i]) <= 1e-4 * yScale, $"output[{i}] {output[i]} vs {yRef[i]}");

        var failures = new List<string>();
        double worst = 0;
        void Check(string tensor, double[] values, int index, double analytic, double tensorScale)
        {
            double saved = values[index];
            double h = 1e-5 * Math.Max(1, Math.Abs(saved));
            values[index] = saved + h;
            double plus = Loss();
            values[index] = saved - h;
            double minus = Loss();
            values[index] = saved;
            double numeric = (plus - minus) / (2 * h);
            double scale = Math.Max(Math.Abs(numeric), Math.Max(0.01 * tensorScale, 1e-4));
            double rel = Math.Abs(analytic - numeric) / scale;
            worst = Math.Max(worst, rel);
            if (rel > 1e-3) failures.Add($"{tensor}[{index}]: backward {analytic:E6}, finite difference {numeric:E6}, rel {rel:E2}");
        }

        var rng = new H3Random(99, batch * 2 + (sequence ? 1 : 0));
        foreach (H3Tensor t in model.Tensors)
        {
            double[] values = weights[t.Name];
            double tensorScale = 0;
            for (int i = 0; i < t.Length; i++) tensorScale = Math.Max(tensorScale, Math.Abs(grads[t.Offset + i]));
            foreach (int i in Sample(t.Length, ref rng, grads.AsSpan(t.Offset, t.Length)))
                Check(t.Name, values, i, grads[t.Offset + i], tensorScale);
        }
        double inputScale = dInput.Max(v => Math.Abs((double)v));
        foreach (int i in Sample(u.Length, ref rng, dInput))
            Check("input", u, i, dInput[i], inputScale);

        _out.WriteLine($"{name} batch {batch} sequence {sequence}: worst relative error {worst:E2}");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    /// <summary>All entries of small tensors; otherwise the two largest gradients and four random entries.</summary>
    private static IEnumerable<int> Sample(int length, ref H3Random rng, ReadOnlySpan<float> g)
    {
        if (length <= 12) return Enumerable.Range(0, length).ToArray();
        var picks = new SortedSet<int>();
        int best = 0, second = 1;
        for (int i = 0; i < length; i++)
        {
            if (Math.Abs(g[i]) > Math.Abs(g[best])) { second = best; best = i; }
            else if (i != best && Math.Abs(g[i]) > Math.Abs(g[second])) second = i;
        }
        picks.Add(best);
        picks.Add(second);
        for (int k = 0; k < 4; k++) picks.Add(rng.NextInt(length));
        return picks.ToArray();
    }

    [Fact]
    public void Backward_matches_the_independent_gradient_vectors()
    {
        var model = new SmallModel();
        var weights = TestData.ReadSafetensors(TestData.Path("small/weights.safetensors"));
        var io = TestData.ReadSafetensors(TestData.Path("small/io.safetensors"));
        var expected = TestData.ReadSafetensors(TestData.Path("small/grads.safetensors"));
        foreach (H3Tensor t in SmallModel.Tensors) weights[t.Name].Data.CopyTo(model.Parameters.Slice(t.Offset, t.Length));
        var (inShape, input) = io["input"];
        int batch = inShape[0];
        float[] r = io["R"].Data;
        H3Workspace ws = model.CreateWorkspace(batch);
        var output = new float[batch * SmallModel.OutputSize];
        var dInput = new float[input.Length];
        model.Forward(input, output, batch, ws, training: false);
        model.Backward(r, ws, dInput);

        double worst = 0;
        void Compare(string name, ReadOnlySpan<float> actual, float[] reference)
        {
            double scale = Math.Max(reference.Max(v => Math.Abs((double)v)), 1e-12);
            double maxRel = 0;
            for (int i = 0; i < reference.Length; i++) maxRel = Math.Max(maxRel, Math.Abs(actual[i] - reference[i]) / scale);
            worst = Math.Max(worst, maxRel);
            Assert.True(maxRel <= 1e-4, $"{name}: max error {maxRel:E3} of the tensor's scale {scale:E3}");
        }
        foreach (H3Tensor t in SmallModel.Tensors) Compare(t.Name, model.Gradients.Slice(t.Offset, t.Length), expected["grad." + t.Name].Data);
        Compare("input", dInput, expected["grad.input"].Data);
        _out.WriteLine($"worst relative error against grads.safetensors: {worst:E2}");
    }
}
