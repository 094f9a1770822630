using System;
using System.Linq;

namespace H3.Tests.Models;

/// <summary>Training-mode behaviour of the generated model: dropout, workspaces, accumulation, allocation.</summary>
public sealed class TrainingTests
{
    private static (SweepB Model, float[] Input, float[] R) Setup(int batch)
    {
        var model = new SweepB(3); // Dropout 0.1 (the default)
        Sweep.Perturb(model, 4);
        return (model, Sweep.RandomInput(batch * SweepB.WindowSize * SweepB.EmbedDim, 5), Sweep.RandomInput(batch * SweepB.OutputSize, 6));
    }

    [Fact]
    public void Training_forward_without_dropout_equals_inference_forward()
    {
        var (model, input, _) = Setup(3);
        var inference = new float[3 * SweepB.OutputSize];
        var training = new float[3 * SweepB.OutputSize];
        model.Forward(input, inference, 3);
        model.Forward(input, training, 3, model.CreateWorkspace(3), training: false);
        for (int i = 0; i < inference.Length; i++) Assert.Equal(inference[i], training[i], 1e-5f);
    }

    [Fact]
    public void Dropout_is_active_in_training_and_reproducible_from_its_seed()
    {
        var (model, input, _) = Setup(2);
        H3Workspace ws = model.CreateWorkspace(2);
        var plain = new float[2 * SweepB.OutputSize];
        var a = new float[2 * SweepB.OutputSize];
        var b = new float[2 * SweepB.OutputSize];
        var c = new float[2 * SweepB.OutputSize];
        model.Forward(input, plain, 2, ws, training: false);
        ws.SeedDropout(42);
        model.Forward(input, a, 2, ws, training: true);
        model.Forward(input, c, 2, ws, training: true);   // the stream moves on: new masks
        ws.SeedDropout(42);
        model.Forward(input, b, 2, ws, training: true);
        Assert.Equal(a, b);
        Assert.NotEqual(plain, a);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Backward_accumulates_and_the_explicit_gradient_overload_matches()
    {
        var (model, input, r) = Setup(3);
        H3Workspace ws = model.CreateWorkspace(3);
        var output = new float[3 * SweepB.OutputSize];
        model.Forward(input, output, 3, ws, training: false);
        model.ZeroGradients();
        model.Backward(r, ws);
        float[] once = model.Gradients.ToArray();
        model.Backward(r, ws);
        float[] twice = model.Gradients.ToArray();
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], Math.Max(1e-6f, Math.Abs(once[i]) * 1e-5f));

        var own = new float[SweepB.ParameterCount];
        model.Backward(r, ws, default, own);
        Assert.Equal(once, own);
        Assert.Equal(twice, model.Gradients.ToArray()); // untouched by the explicit overload
    }

    [Fact]
    public void Training_step_does_not_allocate_after_warm_up()
    {
        var (model, input, r) = Setup(3);
        H3Workspace ws = model.CreateWorkspace(3);
        var output = new float[3 * SweepB.WindowSize * SweepB.OutputSize];
        var rSeq = Sweep.RandomInput(output.Length, 1);
        var dInput = new float[input.Length];
        model.ForwardSequence(input, output, 3, ws);
        model.BackwardSequence(rSeq, ws, dInput);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++)
        {
            model.ZeroGradients();
            model.ForwardSequence(input, output, 3, ws);
            model.BackwardSequence(rSeq, ws, dInput);
            model.Forward(input, output.AsSpan(0, 3 * SweepB.OutputSize), 3, ws);
            model.Backward(r, ws);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Workspace_misuse_gives_clear_errors()
    {
        var (model, input, r) = Setup(2);
        H3Workspace ws = model.CreateWorkspace(2);
        var output = new float[2 * SweepB.OutputSize];

        var noForward = Assert.Throws<InvalidOperationException>(() => model.Backward(r.AsSpan(0, 2 * SweepB.OutputSize), ws));
        Assert.Contains("Forward", noForward.Message);

        var tooBig = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(new float[3 * SweepB.WindowSize * SweepB.EmbedDim], new float[3 * SweepB.OutputSize], 3, ws));
        Assert.Equal("batch", tooBig.ParamName);

        var other = new SweepB(1);
        var foreign = Assert.Throws<ArgumentException>(() => other.Forward(input.AsSpan(0, 2 * SweepB.WindowSize * SweepB.EmbedDim), output, 2, ws));
        Assert.Equal("workspace", foreign.ParamName);

        model.ForwardSequence(input.AsSpan(0, 2 * SweepB.WindowSize * SweepB.EmbedDim), new float[2 * SweepB.WindowSize * SweepB.OutputSize], 2, ws);
        var wrongKind = Assert.Throws<InvalidOperationException>(() => model.Backward(new float[2 * SweepB.OutputSize], ws));
        Assert.Contains("BackwardSequence", wrongKind.Message);

        var badGrad = Assert.Throws<ArgumentException>(() => model.BackwardSequence(new float[5], ws));
        Assert.Equal("outputGradient", badGrad.ParamName);
        Assert.Throws<ArgumentException>(() => model.BackwardSequence(new float[2 * SweepB.WindowSize * SweepB.OutputSize], ws, new float[3]));
        Assert.Throws<ArgumentException>(() => model.BackwardSequence(new float[2 * SweepB.WindowSize * SweepB.OutputSize], ws, default, new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateWorkspace(0));
        Assert.Throws<ArgumentNullException>(() => model.Backward(new float[2 * SweepB.OutputSize], null!));
    }
}

/// <summary>A model with embedding dropout only (the synthetic-task recipe's regulariser).</summary>
[H3Model(EmbedDim = 5, Hidden = 8, State = 4, ConvSize = 2, Layers = 1, WindowSize = 6, Dropout = 0f, EmbedDropout = 0.3f)]
public partial class EmbedDropoutModel { }

public sealed class EmbedDropoutTests
{
    [Fact]
    public void Embedding_dropout_is_active_only_in_training_and_its_gradient_matches_finite_differences()
    {
        var model = new EmbedDropoutModel(1);
        Sweep.Perturb(model, 2);
        Assert.Equal(0.3f, EmbedDropoutModel.EmbedDropoutRate);
        const int batch = 2;
        float[] input = Sweep.RandomInput(batch * EmbedDropoutModel.WindowSize * EmbedDropoutModel.EmbedDim, 3);
        float[] r = Sweep.RandomInput(batch * EmbedDropoutModel.OutputSize, 4);
        H3Workspace ws = model.CreateWorkspace(batch);
        var eval = new float[r.Length];
        var train = new float[r.Length];
        model.Forward(input, eval, batch, ws, training: false);
        var inference = new float[r.Length];
        model.Forward(input, inference, batch);
        for (int i = 0; i < eval.Length; i++) Assert.Equal(inference[i], eval[i], 1e-5f);
        ws.SeedDropout(7);
        model.Forward(input, train, batch, ws, training: true);
        Assert.NotEqual(eval, train);

        // Gradient with the same masks (same dropout seed) against float64 central differences of the float32 model.
        model.ZeroGradients();
        ws.SeedDropout(7);
        model.Forward(input, train, batch, ws, training: true);
        model.Backward(r, ws);
        float[] g = model.Gradients.ToArray();
        double Loss()
        {
            ws.SeedDropout(7);
            var y = new float[r.Length];
            model.Forward(input, y, batch, ws, training: true);
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)y[i] * r[i];
            return sum;
        }
        H3Tensor w = EmbedDropoutModel.Tensors[0];
        Assert.Equal("input_proj.weight", w.Name);
        double scale = 0;
        for (int i = 0; i < w.Length; i++) scale = Math.Max(scale, Math.Abs(g[w.Offset + i]));
        for (int i = 0; i < w.Length; i += 3)
        {
            int at = w.Offset + i;
            float saved = model.Parameters[at];
            const float h = 1e-2f;
            model.Parameters[at] = saved + h;
            double plus = Loss();
            model.Parameters[at] = saved - h;
            double minus = Loss();
            model.Parameters[at] = saved;
            double numeric = (plus - minus) / (2 * h);
            Assert.True(Math.Abs(numeric - g[at]) <= 2e-2 * Math.Max(Math.Abs(numeric), 0.1 * scale), $"input_proj.weight[{i}]: backward {g[at]}, finite difference {numeric}");
        }
    }
}
