using System;
using System.Collections.Generic;
using System.Linq;

namespace H3.Tests.Models;

public class ForwardTests
{
    private const float Guard = 12345.678f;

    [Theory]
    [MemberData(nameof(Sweep.NamesAndBatches), MemberType = typeof(Sweep))]
    public void Forward_matches_float64_reference(string name, int batch)
    {
        IH3Model model = Sweep.Models[name](3);
        Sweep.Perturb(model, seed: 5);
        H3Config c = Sweep.ConfigOf(model);
        float[] input = Sweep.RandomInput(batch * c.T * c.E, seed: 11);

        // Guard values on both sides of the output catch any write outside it.
        int outLength = batch * c.H;
        float[] outputWithGuards = Enumerable.Repeat(Guard, outLength + 64).ToArray();
        model.Forward(input, outputWithGuards.AsSpan(32, outLength), batch);
        Assert.All(outputWithGuards.Take(32).Concat(outputWithGuards.Skip(32 + outLength)), g => Assert.Equal(Guard, g));
        float[] output = outputWithGuards.AsSpan(32, outLength).ToArray();

        var weights = H3Reference.FromFlat(c, model.Parameters);
        double[] expected = H3Reference.Forward(c, weights, input.Select(v => (double)v).ToArray(), batch);

        double scale = Math.Max(1.0, expected.Max(Math.Abs));
        double maxError = 0;
        for (int i = 0; i < expected.Length; i++) maxError = Math.Max(maxError, Math.Abs(output[i] - expected[i]));
        Assert.True(maxError <= 1e-4 * scale, $"{name} batch {batch}: max |error| {maxError:E3} > 1e-4 × {scale:F3}");
    }

    [Theory]
    [MemberData(nameof(Sweep.Names), MemberType = typeof(Sweep))]
    public void Batched_forward_equals_one_window_at_a_time(string name)
    {
        IH3Model model = Sweep.Models[name](1);
        Sweep.Perturb(model, seed: 2);
        H3ModelInfo i = model.Info;
        int frame = i.WindowSize * i.EmbedDim;
        float[] input = Sweep.RandomInput(3 * frame, seed: 4);
        var batched = new float[3 * i.Hidden];
        model.Forward(input, batched, 3);
        for (int b = 0; b < 3; b++)
        {
            var single = new float[i.Hidden];
            model.Forward(input.AsSpan(b * frame, frame), single, 1);
            Assert.Equal(single, batched.AsSpan(b * i.Hidden, i.Hidden).ToArray());
        }
    }

    [Fact]
    public void Forward_matches_the_independent_reference_vectors()
    {
        var model = new SmallModel();
        var weights = TestData.ReadSafetensors(TestData.Path("small/weights.safetensors"));
        var io = TestData.ReadSafetensors(TestData.Path("small/io.safetensors"));
        foreach (H3Tensor t in SmallModel.Tensors)
        {
            var (shape, data) = weights[t.Name];
            Assert.Equal(t.Shape.ToArray(), shape);
            data.CopyTo(model.Parameters.Slice(t.Offset, t.Length));
        }
        var (inShape, input) = io["input"];
        int batch = inShape[0];
        var output = new float[batch * SmallModel.OutputSize];
        model.Forward(input, output, batch);

        float[] expected = io["output"].Data;
        double scale = expected.Max(v => Math.Abs((double)v));
        double maxRel = 0;
        for (int i = 0; i < expected.Length; i++) maxRel = Math.Max(maxRel, Math.Abs(output[i] - expected[i]) / scale);
        Assert.True(maxRel <= 1e-4, $"max relative error {maxRel:E3}");
    }

    [Fact]
    public void Forward_is_deterministic_and_does_not_allocate_after_the_first_call()
    {
        var model = new SweepC(seed: 9);
        float[] input = Sweep.RandomInput(2 * SweepC.WindowSize * SweepC.EmbedDim, seed: 1);
        var first = new float[2 * SweepC.OutputSize];
        var again = new float[2 * SweepC.OutputSize];
        model.Forward(input, first, 2);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) model.Forward(input, again, 2);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(first, again);
    }

    [Theory]
    [InlineData("layers.0.mixer.shift.B")]
    [InlineData("layers.1.mixer.shift.C")]
    [InlineData("layers.1.mixer.diag.log_dt")]
    [InlineData("layers.0.mixer.diag.inv_A_real")]
    [InlineData("layers.1.mixer.diag.A_imag")]
    [InlineData("layers.0.mixer.diag.B")]
    [InlineData("layers.1.mixer.diag.C")]
    public void Forward_sees_every_change_of_the_SSM_parameters_its_kernel_cache_depends_on(string tensor)
    {
        // Forward caches the SSM kernels Ks and Kd per pooled scratch; a parameter change must rebuild them.
        var model = new SweepB(4);
        Sweep.Perturb(model, 5);
        float[] input = Sweep.RandomInput(2 * SweepB.WindowSize * SweepB.EmbedDim, 6);
        var before = new float[2 * SweepB.OutputSize];
        model.Forward(input, before, 2);
        H3Tensor t = SweepB.Tensors.ToArray().Single(x => x.Name == tensor);
        model.Parameters[t.Offset + t.Length / 2] += 0.25f;
        var after = new float[2 * SweepB.OutputSize];
        model.Forward(input, after, 2);

        var fresh = new SweepB(0);
        model.Parameters.CopyTo(fresh.Parameters);
        var expected = new float[2 * SweepB.OutputSize];
        fresh.Forward(input, expected, 2);
        Assert.Equal(expected, after);
        Assert.NotEqual(before, after);
    }

    [Fact]
    public void Concurrent_forward_calls_give_the_serial_results()
    {
        var model = new SweepF(seed: 2);
        Sweep.Perturb(model, 3);
        const int windows = 8;
        int frame = SweepF.WindowSize * SweepF.EmbedDim;
        float[] input = Sweep.RandomInput(windows * frame, seed: 5);
        var serial = new float[windows][];
        for (int w = 0; w < windows; w++)
        {
            serial[w] = new float[SweepF.OutputSize];
            model.Forward(input.AsSpan(w * frame, frame), serial[w], 1);
        }
        System.Threading.Tasks.Parallel.For(0, 4 * 50, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int w = i % windows;
            var output = new float[SweepF.OutputSize];
            model.Forward(input.AsSpan(w * frame, frame), output, 1);
            Assert.Equal(serial[w], output);
        });
    }

    [Fact]
    public void Forward_rejects_bad_arguments_before_writing()
    {
        var model = new SweepA();
        int inLength = SweepA.WindowSize * SweepA.EmbedDim;
        var output = Enumerable.Repeat(Guard, SweepA.OutputSize).ToArray();

        var e1 = Assert.Throws<ArgumentException>(() => model.Forward(new float[inLength - 1], output, 1));
        Assert.Equal("input", e1.ParamName);
        Assert.Contains($"{inLength}", e1.Message);
        Assert.Contains($"{inLength - 1}", e1.Message);

        var e2 = Assert.Throws<ArgumentException>(() => model.Forward(new float[inLength], new float[SweepA.OutputSize + 1], 1));
        Assert.Equal("output", e2.ParamName);

        var e3 = Assert.ThrowsAny<ArgumentException>(() => model.Forward(new float[inLength], output, 0));
        Assert.Equal("batch", e3.ParamName);
        var e4 = Assert.ThrowsAny<ArgumentException>(() => model.Forward(new float[inLength], output, -2));
        Assert.Equal("batch", e4.ParamName);

        // A batch whose span lengths disagree with the batch argument.
        var e5 = Assert.Throws<ArgumentException>(() => model.Forward(new float[inLength], output, 2));
        Assert.Equal("input", e5.ParamName);
        Assert.All(output, v => Assert.Equal(Guard, v));
    }
}
