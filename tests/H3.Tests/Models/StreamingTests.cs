using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace H3.Tests.Models;

/// <summary>
/// Streaming inference (H3-SPEC.md "Streaming"): Step against Forward, ForwardSequence and the float64 reference,
/// Reset, parameter changes between steps, allocation, threads and argument checks, over the whole sweep.
/// </summary>
public class StreamingTests
{
    private const float Guard = 12345.678f;

    /// <summary>Frame t of every window of input [batch, T, E], as Step takes it: [batch, E].</summary>
    private static float[] FrameOf(float[] input, int batch, int windowLength, int e, int t)
    {
        var frame = new float[batch * e];
        for (int b = 0; b < batch; b++)
            Array.Copy(input, (b * windowLength + t) * e, frame, b * e, e);
        return frame;
    }

    private static double MaxRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double scale = 1.0, maxError = 0;
        foreach (float v in expected) scale = Math.Max(scale, Math.Abs(v));
        for (int i = 0; i < expected.Length; i++) maxError = Math.Max(maxError, Math.Abs(actual[i] - expected[i]));
        return maxError / scale;
    }

    private static float[] RunStream(IH3Model model, H3StreamState state, float[] input, int batch, int windowLength, int frames)
    {
        H3ModelInfo i = model.Info;
        var output = new float[batch * i.Hidden];
        for (int t = 0; t < frames; t++) model.Step(FrameOf(input, batch, windowLength, i.EmbedDim, t), output, state);
        return output;
    }

    [Theory]
    [MemberData(nameof(Sweep.NamesAndBatches), MemberType = typeof(Sweep))]
    public void Step_over_T_frames_from_reset_equals_Forward(string name, int batch)
    {
        IH3Model model = Sweep.Models[name](3);
        Sweep.Perturb(model, seed: 5);
        H3ModelInfo i = model.Info;
        float[] input = Sweep.RandomInput(batch * i.WindowSize * i.EmbedDim, seed: 11);
        var expected = new float[batch * i.Hidden];
        model.Forward(input, expected, batch);

        H3StreamState state = model.CreateStream(batch);
        Assert.Equal(batch, state.Batch);
        Assert.Equal(0, state.FramesSeen);
        // Guard values on both sides of the output catch any write outside it.
        int outLength = batch * i.Hidden;
        float[] outputWithGuards = Enumerable.Repeat(Guard, outLength + 64).ToArray();
        for (int t = 0; t < i.WindowSize; t++)
            model.Step(FrameOf(input, batch, i.WindowSize, i.EmbedDim, t), outputWithGuards.AsSpan(32, outLength), state);
        Assert.All(outputWithGuards.Take(32).Concat(outputWithGuards.Skip(32 + outLength)), g => Assert.Equal(Guard, g));
        Assert.Equal(i.WindowSize, state.FramesSeen);

        double rel = MaxRelativeError(outputWithGuards.AsSpan(32, outLength), expected);
        Assert.True(rel <= 1e-4, $"{name} batch {batch}: Step after T frames vs Forward: max relative error {rel:E3}");
    }

    [Theory]
    [MemberData(nameof(Sweep.Names), MemberType = typeof(Sweep))]
    public void Every_step_equals_ForwardSequence_at_that_frame(string name)
    {
        // ForwardSequence (training: false) gives the output at every frame of the window, and the model is causal:
        // frame t's output depends on frames 0..t only, which is exactly what the stream has seen after t + 1 steps.
        IH3Model model = Sweep.Models[name](4);
        Sweep.Perturb(model, seed: 6);
        H3ModelInfo i = model.Info;
        const int batch = 2;
        float[] input = Sweep.RandomInput(batch * i.WindowSize * i.EmbedDim, seed: 12);
        var sequence = new float[batch * i.WindowSize * i.Hidden];
        model.ForwardSequence(input, sequence, batch, model.CreateWorkspace(batch), training: false);

        H3StreamState state = model.CreateStream(batch);
        var output = new float[batch * i.Hidden];
        var expected = new float[batch * i.Hidden];
        double worst = 0;
        for (int t = 0; t < i.WindowSize; t++)
        {
            model.Step(FrameOf(input, batch, i.WindowSize, i.EmbedDim, t), output, state);
            for (int b = 0; b < batch; b++)
                Array.Copy(sequence, (b * i.WindowSize + t) * i.Hidden, expected, b * i.Hidden, i.Hidden);
            worst = Math.Max(worst, MaxRelativeError(output, expected));
        }
        Assert.True(worst <= 1e-4, $"{name}: worst step vs ForwardSequence: max relative error {worst:E3}");
    }

    /// <summary>The sweep models with N ≤ T, where the stream's min(N, T) shift taps are all N of a longer window.</summary>
    public static IEnumerable<object[]> NamesWithStateWithinWindow()
    {
        foreach (var (name, factory) in Sweep.Models)
        {
            H3ModelInfo i = factory(0).Info;
            if (i.State <= i.WindowSize) yield return new object[] { name };
        }
    }

    [Theory]
    [MemberData(nameof(NamesWithStateWithinWindow))]
    public void Beyond_T_the_stream_keeps_its_whole_history(string name)
    {
        // After T frames the stream goes on: its output at frame 2T+4 equals the float64 reference on a window of all
        // 2T+4 frames. The stream's shift SSM keeps the min(N, T) taps of Forward, and a longer window would use
        // min(N, 2T+4): the two agree where N <= T, so only those models are compared here (the others are covered
        // up to T frames by the tests above).
        IH3Model model = Sweep.Models[name](5);
        Sweep.Perturb(model, seed: 7);
        H3ModelInfo i = model.Info;
        int frames = 2 * i.WindowSize + 4;
        const int batch = 2;
        float[] input = Sweep.RandomInput(batch * frames * i.EmbedDim, seed: 13);
        float[] output = RunStream(model, model.CreateStream(batch), input, batch, frames, frames);

        H3Config longWindow = Sweep.ConfigOf(model) with { T = frames };
        var weights = H3Reference.FromFlat(longWindow, model.Parameters);
        double[] expected = H3Reference.Forward(longWindow, weights, input.Select(v => (double)v).ToArray(), batch, recurrent: true);
        double rel = MaxRelativeError(output, expected.Select(v => (float)v).ToArray());
        Assert.True(rel <= 1e-4, $"{name}: frame {frames} vs float64 reference: max relative error {rel:E3}");
    }

    [Theory]
    [MemberData(nameof(Sweep.Names), MemberType = typeof(Sweep))]
    public void Batched_streams_equal_single_streams(string name)
    {
        IH3Model model = Sweep.Models[name](6);
        Sweep.Perturb(model, seed: 8);
        H3ModelInfo i = model.Info;
        const int batch = 3;
        int frames = i.WindowSize + 3;
        float[] input = Sweep.RandomInput(batch * frames * i.EmbedDim, seed: 14);
        float[] batched = RunStream(model, model.CreateStream(batch), input, batch, frames, frames);
        for (int b = 0; b < batch; b++)
        {
            float[] one = input.AsSpan(b * frames * i.EmbedDim, frames * i.EmbedDim).ToArray();
            float[] single = RunStream(model, model.CreateStream(), one, 1, frames, frames);
            Assert.Equal(single, batched.AsSpan(b * i.Hidden, i.Hidden).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Sweep.Names), MemberType = typeof(Sweep))]
    public void Reset_really_resets(string name)
    {
        IH3Model model = Sweep.Models[name](7);
        Sweep.Perturb(model, seed: 9);
        H3ModelInfo i = model.Info;
        const int batch = 2;
        float[] input = Sweep.RandomInput(batch * i.WindowSize * i.EmbedDim, seed: 15);
        float[] other = Sweep.RandomInput(batch * (i.WindowSize + 5) * i.EmbedDim, seed: 16);

        float[] fresh = RunStream(model, model.CreateStream(batch), input, batch, i.WindowSize, i.WindowSize);
        H3StreamState state = model.CreateStream(batch);
        RunStream(model, state, other, batch, i.WindowSize + 5, i.WindowSize + 5);
        Assert.Equal(i.WindowSize + 5, state.FramesSeen);
        state.Reset();
        Assert.Equal(0, state.FramesSeen);
        float[] afterReset = RunStream(model, state, input, batch, i.WindowSize, i.WindowSize);
        Assert.Equal(fresh, afterReset);
    }

    [Theory]
    [MemberData(nameof(Sweep.Names), MemberType = typeof(Sweep))]
    public void Step_uses_the_parameters_as_they_are_at_each_call(string name)
    {
        // The state caches SSM coefficients derived from the parameters; a change must be picked up by the next Step.
        IH3Model model = Sweep.Models[name](8);
        Sweep.Perturb(model, seed: 10);
        H3ModelInfo i = model.Info;
        float[] input = Sweep.RandomInput(i.WindowSize * i.EmbedDim, seed: 17);
        H3StreamState state = model.CreateStream();
        RunStream(model, state, input, 1, i.WindowSize, i.WindowSize);

        // Change only the SSM parameters of the last layer (the cached ones), then one element of one tensor.
        foreach (string tensor in new[] { "mixer.diag.log_dt", "mixer.shift.C", "mixer.diag.C" })
        {
            H3Tensor t = model.Tensors.ToArray().Single(x => x.Name == $"layers.{i.Layers - 1}.{tensor}");
            model.Parameters.Slice(t.Offset, t.Length)[t.Length / 2] += 0.25f;
            var expected = new float[i.Hidden];
            model.Forward(input, expected, 1);
            state.Reset();
            float[] output = RunStream(model, state, input, 1, i.WindowSize, i.WindowSize);
            double rel = MaxRelativeError(output, expected);
            Assert.True(rel <= 1e-4, $"{name}: after changing {t.Name}: max relative error {rel:E3}");
        }
    }

    [Fact]
    public void Without_CheckParameters_the_coefficients_change_only_on_RefreshCoefficients()
    {
        var model = new SweepC(seed: 3);
        Sweep.Perturb(model, seed: 4);
        float[] input = Sweep.RandomInput(SweepC.WindowSize * SweepC.EmbedDim, seed: 18);
        H3StreamState state = model.CreateStream();
        Assert.True(state.CheckParameters);
        state.CheckParameters = false;
        float[] before = RunStream(model, state, input, 1, SweepC.WindowSize, SweepC.WindowSize);

        // mixer.shift.C only enters through the cached shift kernel: without a refresh the stream does not see it.
        H3Tensor c = SweepC.Tensors.ToArray().Single(t => t.Name == "layers.1.mixer.shift.C");
        model.Parameters.Slice(c.Offset, c.Length)[3] += 0.5f;
        state.Reset();
        Assert.Equal(before, RunStream(model, state, input, 1, SweepC.WindowSize, SweepC.WindowSize));

        state.RefreshCoefficients();
        state.Reset();
        float[] after = RunStream(model, state, input, 1, SweepC.WindowSize, SweepC.WindowSize);
        var expected = new float[SweepC.OutputSize];
        model.Forward(input, expected, 1);
        Assert.NotEqual(before, after);
        Assert.True(MaxRelativeError(after, expected) <= 1e-4);
    }

    [Theory]
    [MemberData(nameof(Sweep.NamesAndBatches), MemberType = typeof(Sweep))]
    public void Two_thread_steps_equal_one_thread_steps_bit_for_bit(string name, int batch)
    {
        IH3Model model = Sweep.Models[name](3);
        Sweep.Perturb(model, seed: 5);
        H3ModelInfo i = model.Info;
        float[] input = Sweep.RandomInput(batch * i.WindowSize * i.EmbedDim, seed: 11);
        using H3StreamState one = model.CreateStream(batch), two = model.CreateStream(batch, threads: 2);
        Assert.Equal(1, one.Threads);
        Assert.Equal(2, two.Threads);
        var a = new float[batch * i.Hidden];
        var b = new float[batch * i.Hidden];
        for (int t = 0; t < 2 * i.WindowSize + 3; t++)
        {
            if (t == i.WindowSize)
            {
                // Every layer's SSM parameters change: each part rebuilds the coefficients of its own layers.
                foreach (H3Tensor x in model.Tensors.ToArray().Where(x => x.Name.EndsWith("mixer.diag.log_dt", StringComparison.Ordinal)))
                    model.Parameters[x.Offset] += 0.125f;
            }
            float[] frame = FrameOf(input, batch, i.WindowSize, i.EmbedDim, t % i.WindowSize);
            model.Step(frame, a, one);
            model.Step(frame, b, two);
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan())),
                $"{name} batch {batch}: two-thread step {t} differs from the one-thread step");
        }
    }

    [Fact]
    public void Two_thread_step_allocates_nothing_and_Dispose_stops_it()
    {
        var model = new SweepC(seed: 9);
        H3StreamState state = model.CreateStream(2, threads: 2);
        float[] frames = Sweep.RandomInput(2 * SweepC.EmbedDim, seed: 1);
        var output = new float[2 * SweepC.OutputSize];
        for (int t = 0; t < 5; t++) model.Step(frames, output, state);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 0; t < 200; t++) model.Step(frames, output, state);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        state.Dispose();
        state.Dispose(); // twice is fine
        Assert.Throws<ObjectDisposedException>(() => model.Step(frames, output, state));
    }

    [Fact]
    public void Step_does_not_allocate()
    {
        foreach (var factory in new Func<int, IH3Model>[] { s => new SweepC(s), s => new SweepE(s), s => new SweepG(s) })
        {
            IH3Model model = factory(9);
            H3ModelInfo i = model.Info;
            H3StreamState state = model.CreateStream(3);
            float[] frames = Sweep.RandomInput(3 * i.EmbedDim, seed: 1);
            var output = new float[3 * i.Hidden];
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int t = 0; t < 2 * i.WindowSize + 5; t++) model.Step(frames, output, state);
            state.Reset();
            model.Parameters[model.Parameters.Length / 2] += 0.5f; // a rebuild of the coefficients allocates nothing either
            for (int t = 0; t < 5; t++) model.Step(frames, output, state);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Fact]
    public void Separate_streams_on_separate_threads_give_the_serial_results()
    {
        var model = new SweepF(seed: 2);
        Sweep.Perturb(model, 3);
        const int streams = 4;
        int frames = 2 * SweepF.WindowSize;
        int length = frames * SweepF.EmbedDim;
        float[] input = Sweep.RandomInput(streams * length, seed: 5);
        var serial = new float[streams][];
        for (int s = 0; s < streams; s++)
            serial[s] = RunStream(model, model.CreateStream(), input.AsSpan(s * length, length).ToArray(), 1, frames, frames);

        var parallel = new float[streams][];
        var start = new Barrier(streams);
        var threads = Enumerable.Range(0, streams).Select(s => new Thread(() =>
        {
            H3StreamState state = model.CreateStream();
            float[] mine = input.AsSpan(s * length, length).ToArray();
            start.SignalAndWait();
            for (int round = 0; round < 5; round++)
            {
                state.Reset();
                parallel[s] = RunStream(model, state, mine, 1, frames, frames);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        for (int s = 0; s < streams; s++) Assert.Equal(serial[s], parallel[s]);
    }

    [Fact]
    public void Step_rejects_bad_arguments_before_writing()
    {
        var model = new SweepA();
        H3StreamState state = model.CreateStream(2);
        var frames = new float[2 * SweepA.EmbedDim];
        var output = Enumerable.Repeat(Guard, 2 * SweepA.OutputSize).ToArray();

        var e1 = Assert.Throws<ArgumentException>(() => model.Step(new float[2 * SweepA.EmbedDim - 1], output, state));
        Assert.Equal("frames", e1.ParamName);
        Assert.Contains($"{2 * SweepA.EmbedDim}", e1.Message);
        Assert.Contains($"{2 * SweepA.EmbedDim - 1}", e1.Message);

        var e2 = Assert.Throws<ArgumentException>(() => model.Step(frames, new float[2 * SweepA.OutputSize + 1], state));
        Assert.Equal("output", e2.ParamName);
        Assert.Contains($"{2 * SweepA.OutputSize}", e2.Message);
        Assert.Contains($"{2 * SweepA.OutputSize + 1}", e2.Message);

        // Frames for one stream given to a state of two.
        var e3 = Assert.Throws<ArgumentException>(() => model.Step(new float[SweepA.EmbedDim], new float[SweepA.OutputSize], state));
        Assert.Equal("frames", e3.ParamName);

        Assert.Throws<ArgumentNullException>(() => model.Step(frames, output, null!));

        // A state of another model type, and of another instance of the same type.
        H3StreamState foreign = new SweepB().CreateStream(2);
        var e4 = Assert.Throws<ArgumentException>(() => model.Step(frames, output, foreign));
        Assert.Equal("state", e4.ParamName);
        Assert.Contains(nameof(SweepB), e4.Message);
        var e5 = Assert.Throws<ArgumentException>(() => model.Step(frames, output, new SweepA().CreateStream(2)));
        Assert.Equal("state", e5.ParamName);

        var e6 = Assert.ThrowsAny<ArgumentException>(() => model.CreateStream(0));
        Assert.Equal("batch", e6.ParamName);
        var e7 = Assert.ThrowsAny<ArgumentException>(() => model.CreateStream(-1));
        Assert.Equal("batch", e7.ParamName);
        var e8 = Assert.ThrowsAny<ArgumentException>(() => model.CreateStream(int.MaxValue)); // more than one array holds
        Assert.Equal("batch", e8.ParamName);

        Assert.All(output, v => Assert.Equal(Guard, v));
        Assert.Equal(0, state.FramesSeen);
        Assert.Equal(0, foreign.FramesSeen);
    }

    [Fact]
    public void Default_model_step_equals_Forward_after_T_frames()
    {
        var model = new DefaultModel(seed: 1);
        float[] input = Sweep.RandomInput(DefaultModel.WindowSize * DefaultModel.EmbedDim, seed: 2);
        var expected = new float[DefaultModel.OutputSize];
        model.Forward(input, expected, 1);
        float[] output = RunStream(model, model.CreateStream(), input, 1, DefaultModel.WindowSize, DefaultModel.WindowSize);
        double rel = MaxRelativeError(output, expected);
        Assert.True(rel <= 1e-4, $"default model: max relative error {rel:E3}");
    }
}
