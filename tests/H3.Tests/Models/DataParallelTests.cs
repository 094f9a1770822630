using System;
using System.Linq;

namespace H3.Tests.Models;

/// <summary>Data-parallel training: shards with their own workspaces and gradient buffers, reduced in shard order.</summary>
public sealed class DataParallelTests
{
    private const int Batch = 5;

    /// <summary>One data-parallel backward over <paramref name="shards"/> shards; returns the reduced gradients.</summary>
    private static float[] ShardedGradients(SweepB model, float[] input, float[] r, int shards)
    {
        int frame = SweepB.WindowSize * SweepB.EmbedDim, outFrame = SweepB.WindowSize * SweepB.OutputSize;
        using var runner = new H3ShardRunner(shards);
        var workspaces = Enumerable.Range(0, shards).Select(_ => model.CreateWorkspace(Batch)).ToArray();
        var grads = Enumerable.Range(0, shards).Select(_ => new float[SweepB.ParameterCount]).ToArray();
        var outputs = Enumerable.Range(0, shards).Select(_ => new float[Batch * outFrame]).ToArray();
        runner.Run(shard =>
        {
            var (start, count) = runner.Split(Batch, shard);
            if (count == 0) return;
            model.ForwardSequence(input.AsSpan(start * frame, count * frame), outputs[shard].AsSpan(0, count * outFrame), count, workspaces[shard], training: false);
            model.BackwardSequence(r.AsSpan(start * outFrame, count * outFrame), workspaces[shard], default, grads[shard]);
        });
        var total = new float[SweepB.ParameterCount];
        foreach (float[] g in grads) System.Numerics.Tensors.TensorPrimitives.Add(total, g, total);
        return total;
    }

    [Fact]
    public void Sharded_gradients_equal_the_single_batch_gradients_and_are_deterministic()
    {
        var model = new SweepB(1);
        Sweep.Perturb(model, 2);
        float[] input = Sweep.RandomInput(Batch * SweepB.WindowSize * SweepB.EmbedDim, 3);
        float[] r = Sweep.RandomInput(Batch * SweepB.WindowSize * SweepB.OutputSize, 4);

        H3Workspace ws = model.CreateWorkspace(Batch);
        model.ForwardSequence(input, new float[r.Length], Batch, ws, training: false);
        model.ZeroGradients();
        model.BackwardSequence(r, ws);
        float[] single = model.Gradients.ToArray();

        float[] two = ShardedGradients(model, input, r, 2);
        float[] twoAgain = ShardedGradients(model, input, r, 2);
        float[] three = ShardedGradients(model, input, r, 3);
        Assert.Equal(two, twoAgain); // same shard count → same bits
        float scale = single.Max(Math.Abs);
        for (int i = 0; i < single.Length; i++)
        {
            Assert.True(Math.Abs(two[i] - single[i]) <= 1e-5f * scale, $"[{i}] 2 shards {two[i]} vs {single[i]}");
            Assert.True(Math.Abs(three[i] - single[i]) <= 1e-5f * scale, $"[{i}] 3 shards {three[i]} vs {single[i]}");
        }
    }

    [Fact]
    public void Runner_splits_evenly_and_rethrows_failures()
    {
        using var runner = new H3ShardRunner(2);
        Assert.Equal((0, 3), runner.Split(5, 0));
        Assert.Equal((3, 2), runner.Split(5, 1));
        Assert.Equal((0, 0), runner.Split(0, 1));
        var seen = new int[2];
        runner.Run(shard => seen[shard]++);
        Assert.Equal(new[] { 1, 1 }, seen);
        var ex = Assert.Throws<InvalidOperationException>(() => runner.Run(shard => { if (shard == 1) throw new InvalidOperationException("boom"); }));
        Assert.Equal("boom", ex.Message);
        runner.Run(shard => seen[shard]++); // still usable after a failure
        Assert.Equal(new[] { 2, 2 }, seen);
    }

    [Fact]
    public void Same_seed_gives_identical_parameters_after_ten_training_steps()
    {
        static byte[] Train()
        {
            var model = new SweepB(11);
            var opt = new AdamW(model, new AdamWOptions { MaxGradientNorm = 1f });
            H3Workspace ws = model.CreateWorkspace(4);
            ws.SeedDropout(5);
            float[] input = Sweep.RandomInput(4 * SweepB.WindowSize * SweepB.EmbedDim, 12);
            float[] target = Sweep.RandomInput(4 * SweepB.OutputSize, 13);
            var output = new float[target.Length];
            var grad = new float[target.Length];
            for (int step = 0; step < 10; step++)
            {
                model.ZeroGradients();
                model.Forward(input, output, 4, ws, training: true);
                Losses.MeanSquaredError(output, target, grad);
                model.Backward(grad, ws);
                opt.Step(model.Parameters, model.Gradients, 1e-3f);
            }
            return System.Runtime.InteropServices.MemoryMarshal.AsBytes(model.Parameters).ToArray();
        }
        Assert.Equal(Train(), Train());
    }
}
