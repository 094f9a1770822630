using System;
using System.Linq;
using H3.Tests.Models;

namespace H3.Tests.Reliability;

/// <summary>
/// Issue 7, part 4: NaN and infinity. Inference does not check its input (documented): a non-finite value poisons
/// only its own window or stream, nothing throws, and the model does not change. In training a non-finite loss or
/// gradient makes <see cref="AdamW"/> skip the step and say so, leaving parameters and moments bit-unchanged.
/// </summary>
public sealed class NonFiniteTests
{
    private const int E = SmallModel.EmbedDim, H = SmallModel.OutputSize, T = SmallModel.WindowSize;

    public static TheoryData<float> NonFinite => new() { float.NaN, float.PositiveInfinity, float.NegativeInfinity };

    [Theory]
    [MemberData(nameof(NonFinite))]
    public void Forward_propagates_a_non_finite_input_to_its_own_window_only(float bad)
    {
        var model = new SmallModel(seed: 21);
        byte[] parameters = Reliable.Bits(model.Parameters);
        float[] input = Reliable.Random(3 * T * E, 22);
        var clean = new float[3 * H];
        model.Forward(input, clean, 3);

        input[1 * T * E + 5 * E + 2] = bad; // window 1, frame 5
        var dirty = new float[3 * H];
        model.Forward(input, dirty, 3);

        Assert.Equal(Reliable.Bits(clean.AsSpan(0, H)), Reliable.Bits(dirty.AsSpan(0, H)));
        Assert.Equal(Reliable.Bits(clean.AsSpan(2 * H, H)), Reliable.Bits(dirty.AsSpan(2 * H, H)));
        Assert.All(dirty.AsSpan(H, H).ToArray(), v => Assert.True(float.IsNaN(v), $"window 1's output holds {v}, not NaN"));
        Assert.Equal(parameters, Reliable.Bits(model.Parameters));
    }

    [Fact]
    public void Step_keeps_a_NaN_frame_in_its_own_stream_until_Reset()
    {
        var model = new SmallModel(seed: 23);
        float[] frames = Reliable.Random(5 * 2 * E, 24); // 5 frames of 2 streams
        byte[] Run(bool poison, H3StreamState state, int from = 0)
        {
            var outputs = new float[5 * 2 * H];
            for (int f = from; f < 5; f++)
            {
                float[] frame = frames.AsSpan(f * 2 * E, 2 * E).ToArray();
                if (poison && f == 1) frame[0] = float.NaN; // stream 0, frame 1
                model.Step(frame, outputs.AsSpan(f * 2 * H, 2 * H), state);
            }
            return Reliable.Bits(outputs);
        }

        float[] AsFloats(byte[] bits) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bits).ToArray();
        float[] clean = AsFloats(Run(false, model.CreateStream(2)));
        H3StreamState state = model.CreateStream(2);
        float[] dirty = AsFloats(Run(true, state));
        for (int f = 0; f < 5; f++)
        {
            float[] s0 = dirty.AsSpan(f * 2 * H, H).ToArray(), s1 = dirty.AsSpan(f * 2 * H + H, H).ToArray();
            Assert.Equal(Reliable.Bits(clean.AsSpan(f * 2 * H + H, H)), Reliable.Bits(s1)); // stream 1 never sees it
            if (f == 0) Assert.Equal(Reliable.Bits(clean.AsSpan(0, H)), Reliable.Bits(s0));
            else Assert.All(s0, v => Assert.True(float.IsNaN(v), $"frame {f}: stream 0 holds {v} after a NaN frame"));
        }
        state.Reset();
        Assert.Equal(Reliable.Bits(clean), Run(false, state)); // Reset forgets the NaN
    }

    [Fact]
    public void AdamW_skips_a_step_with_a_non_finite_gradient_and_reports_it()
    {
        var model = new SmallModel(seed: 25);
        var adam = new AdamW(model, new AdamWOptions { MaxGradientNorm = 1f });
        var reference = new AdamW(model, new AdamWOptions { MaxGradientNorm = 1f });
        float[] good = Reliable.Random(SmallModel.ParameterCount, 26);
        float[] p0 = model.Parameters.ToArray();

        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            float[] g = (float[])good.Clone();
            g[SmallModel.ParameterCount / 2] = bad;
            g.CopyTo(model.Gradients);
            AdamWStep step = adam.Step(model, learningRate: 0.01f);
            Assert.False(step.Applied);
            Assert.Equal(AdamWSkipReason.NonFiniteGradient, step.SkipReason);
            Assert.Equal(AdamWSkipReason.NonFiniteGradient, adam.LastSkipReason);
            Assert.False(float.IsFinite(step.GradientNorm));
            Assert.Equal(Reliable.Bits(p0), Reliable.Bits(model.Parameters));
        }
        Assert.Equal(3, adam.SkippedSteps);
        Assert.Equal(0, adam.StepCount);
        Assert.All(adam.FirstMoments.ToArray(), m => Assert.Equal(0f, m));
        Assert.All(adam.SecondMoments.ToArray(), v => Assert.Equal(0f, v));

        // The next good step is exactly the first step of an optimizer that never saw the bad ones.
        good.CopyTo(model.Gradients);
        AdamWStep applied = adam.Step(model, 0.01f);
        Assert.True(applied.Applied);
        Assert.Equal(AdamWSkipReason.None, applied.SkipReason);
        Assert.Equal(AdamWSkipReason.None, adam.LastSkipReason);
        float[] expected = (float[])p0.Clone();
        reference.Step(expected, good, 0.01f);
        Assert.Equal(Reliable.Bits(expected), Reliable.Bits(model.Parameters));
        Assert.Equal(1, adam.StepCount);
    }

    [Fact]
    public void A_NaN_input_in_training_ends_in_a_skipped_step_that_names_the_loss()
    {
        var model = new SmallModel(seed: 27);
        var adam = new AdamW(model);
        H3Workspace workspace = model.CreateWorkspace(2);
        float[] input = Reliable.Random(2 * T * E, 28), target = Reliable.Random(2 * H, 29);
        input[7] = float.NaN;
        var y = new float[2 * H];
        var dy = new float[2 * H];
        model.ZeroGradients();
        model.Forward(input, y, 2, workspace, training: false);
        float loss = Losses.MeanSquaredError(y, target, dy);
        Assert.True(float.IsNaN(loss));
        model.Backward(dy, workspace);
        Assert.Contains(model.Gradients.ToArray(), g => !float.IsFinite(g));
        byte[] before = Reliable.Bits(model.Parameters);

        AdamWStep step = adam.Step(model, 0.01f, loss);
        Assert.False(step.Applied);
        Assert.Equal(AdamWSkipReason.NonFiniteLoss, step.SkipReason);
        Assert.Equal(1, adam.SkippedSteps);
        Assert.Equal(before, Reliable.Bits(model.Parameters));

        // A finite loss with finite gradients is applied; an infinite loss is skipped even with finite gradients.
        model.ZeroGradients();
        Reliable.Random(SmallModel.ParameterCount, 30).CopyTo(model.Gradients);
        Assert.False(adam.Step(model, 0.01f, float.PositiveInfinity).Applied);
        Assert.Equal(before, Reliable.Bits(model.Parameters));
        Assert.True(adam.Step(model, 0.01f, 1.5f).Applied);
        Assert.NotEqual(before, Reliable.Bits(model.Parameters));
        Assert.Equal(2, adam.SkippedSteps);
        Assert.Equal(1, adam.StepCount);
    }
}
