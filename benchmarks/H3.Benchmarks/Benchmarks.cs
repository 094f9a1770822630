using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;

namespace H3.Benchmarks;

/// <summary>The issue-6 cases at the seed's default config. Every timed call is allocation-free after setup.</summary>
[MemoryDiagnoser]
public class H3Bench
{
    private const int MaxBatch = 32;
    private BenchModel _model = null!;
    private BaselineH3 _baseline = null!;
    private float[] _input = null!, _output = null!, _outputGradient = null!, _frame = null!, _stepOut = null!;
    private H3Workspace _ws8 = null!, _ws32 = null!;
    private H3StreamState _stream = null!, _stream2 = null!;
    private H3ShardRunner _runner = null!;
    private H3Workspace[] _shardWs = null!;
    private float[][] _shardGrads = null!;
    private Action<int> _trainShard = null!, _forwardShard = null!;
    private int _shardBatch;

    [GlobalSetup]
    public void Setup()
    {
        _model = new BenchModel(seed: 42);
        var rng = new H3Random(7);
        // Non-trivial biases and norm parameters, so the agreement check exercises every term.
        Span<float> p = _model.Parameters;
        foreach (H3Tensor t in BenchModel.Tensors)
            if (t.Shape.Count == 1 && !t.Name.Contains("diag", StringComparison.Ordinal) && !t.Name.Contains("shift", StringComparison.Ordinal))
                for (int i = 0; i < t.Length; i++) p[t.Offset + i] += 0.05f * (float)rng.NextGaussian();
        _baseline = new BaselineH3(BenchModel.Info, BenchModel.Tensors, p.ToArray(), MaxBatch);

        _input = new float[MaxBatch * BenchModel.WindowSize * BenchModel.EmbedDim];
        for (int i = 0; i < _input.Length; i++) _input[i] = (float)rng.NextGaussian();
        _output = new float[MaxBatch * BenchModel.OutputSize];
        _outputGradient = new float[MaxBatch * BenchModel.OutputSize];
        for (int i = 0; i < _outputGradient.Length; i++) _outputGradient[i] = (float)rng.NextGaussian() / 64;
        _frame = _input.AsSpan(0, BenchModel.EmbedDim).ToArray();
        _stepOut = new float[BenchModel.OutputSize];

        CheckAgreement(_model, _baseline, _input, batch: 3);
        CheckAgreement(_model, _baseline, _input, batch: MaxBatch);

        _ws8 = _model.CreateWorkspace(8);
        _ws32 = _model.CreateWorkspace(MaxBatch);
        _stream = _model.CreateStream(1);
        _stream2 = _model.CreateStream(1, threads: 2);

        _runner = new H3ShardRunner(2);
        _shardWs = new[] { _model.CreateWorkspace(MaxBatch / 2), _model.CreateWorkspace(MaxBatch / 2) };
        _shardGrads = new[] { new float[BenchModel.ParameterCount], new float[BenchModel.ParameterCount] };
        _trainShard = TrainShard;
        _forwardShard = ForwardShard;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _runner.Dispose();
        _stream2.Dispose();
    }

    /// <summary>Throws unless max|generated − baseline| ≤ 1e-4 · max|baseline| over the outputs.</summary>
    public static double CheckAgreement(BenchModel model, BaselineH3 baseline, float[] input, int batch)
    {
        int n = batch * BenchModel.WindowSize * BenchModel.EmbedDim;
        var ours = new float[batch * BenchModel.OutputSize];
        var theirs = new float[batch * BenchModel.OutputSize];
        model.Forward(input.AsSpan(0, n), ours, batch);
        baseline.Forward(input.AsSpan(0, n), theirs, batch);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(ours[i] - theirs[i]));
            maxRef = Math.Max(maxRef, Math.Abs(theirs[i]));
        }
        double rel = maxDiff / maxRef;
        if (!(rel <= 1e-4))
            throw new InvalidOperationException($"generated and baseline Forward disagree at batch {batch}: max |diff| {maxDiff:G3}, max |ref| {maxRef:G3}, relative {rel:G3} > 1e-4");
        Console.WriteLine($"// agreement at batch {batch}: max |diff| / max |ref| = {rel:G3}");
        return rel;
    }

    private Span<float> In(int batch) => _input.AsSpan(0, batch * BenchModel.WindowSize * BenchModel.EmbedDim);
    private Span<float> Out(int batch) => _output.AsSpan(0, batch * BenchModel.OutputSize);

    [Benchmark, Arguments(1), Arguments(8), Arguments(32), BenchmarkCategory("Forward")]
    public void Forward(int batch) => _model.Forward(In(batch), Out(batch), batch);

    [Benchmark, Arguments(1), Arguments(8), Arguments(32), BenchmarkCategory("Forward")]
    public void BaselineForward(int batch) => _baseline.Forward(In(batch), Out(batch), batch);

    [Benchmark, BenchmarkCategory("Forward2T")]
    public void Forward2Threads32()
    {
        _shardBatch = MaxBatch;
        _runner.Run(_forwardShard);
    }

    /// <summary>One frame of one stream (the stream keeps its history; cost per frame does not depend on it).</summary>
    [Benchmark, BenchmarkCategory("Step")]
    public void Step() => _model.Step(_frame, _stepOut, _stream);

    /// <summary>One frame of one stream, the step's matrix products split over two threads (CreateStream(1, threads: 2)).</summary>
    [Benchmark, BenchmarkCategory("Step")]
    public void Step2Threads() => _model.Step(_frame, _stepOut, _stream2);

    [Benchmark, Arguments(8), Arguments(32), BenchmarkCategory("Train")]
    public void TrainingStep(int batch)
    {
        H3Workspace ws = batch <= 8 ? _ws8 : _ws32;
        _model.Forward(In(batch), Out(batch), batch, ws, training: true);
        _model.Backward(_outputGradient.AsSpan(0, batch * BenchModel.OutputSize), ws);
    }

    /// <summary>Data-parallel training step at batch 32 on 2 threads (H3ShardRunner, per-shard gradients, summed in order).</summary>
    [Benchmark, BenchmarkCategory("Train2T")]
    public void TrainingStep2Threads32()
    {
        _shardBatch = MaxBatch;
        _runner.Run(_trainShard);
        TensorPrimitives.Add(_shardGrads[0], _shardGrads[1], _model.Gradients);
    }

    private void TrainShard(int shard)
    {
        (int start, int count) = _runner.Split(_shardBatch, shard);
        int frame = BenchModel.WindowSize * BenchModel.EmbedDim;
        _model.Forward(_input.AsSpan(start * frame, count * frame), _output.AsSpan(start * BenchModel.OutputSize, count * BenchModel.OutputSize), count, _shardWs[shard], training: true);
        _model.Backward(_outputGradient.AsSpan(start * BenchModel.OutputSize, count * BenchModel.OutputSize), _shardWs[shard], default, _shardGrads[shard]);
    }

    private void ForwardShard(int shard)
    {
        (int start, int count) = _runner.Split(_shardBatch, shard);
        int frame = BenchModel.WindowSize * BenchModel.EmbedDim;
        _model.Forward(_input.AsSpan(start * frame, count * frame), _output.AsSpan(start * BenchModel.OutputSize, count * BenchModel.OutputSize), count);
    }
}

/// <summary>
/// Peak FP32 throughput of one core: 12 independent FMA chains (latency 4 × 2 pipes = 8 in flight needed on Zen 4),
/// <see cref="Iterations"/> rounds. FLOP = Iterations · 12 chains · lanes · 2.
/// </summary>
public class PeakBench
{
    public const int Iterations = 10_000_000;

    /// <summary>GFLOP/s of <see cref="PeakFma256"/> timed on the thread CPU clock right now (best of three), for profiles on a shared machine.</summary>
    public static double MeasureNow()
    {
        var bench = new PeakBench();
        double best = 0;
        for (int i = 0; i < 3; i++)
        {
            double t0 = H3.Benchmarks.Profile.ThreadClock.Microseconds();
            bench.PeakFma256();
            double s = (H3.Benchmarks.Profile.ThreadClock.Microseconds() - t0) / 1e6;
            best = Math.Max(best, Iterations * 12.0 * 8 * 2 / s / 1e9);
        }
        return best;
    }

    [Benchmark]
    public float PeakFma256()
    {
        if (!Fma.IsSupported) throw new PlatformNotSupportedException("FMA is not supported: no peak kernel.");
        Vector256<float> m = Vector256.Create(0.999999f), c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c;
        Vector256<float> a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c); a1 = Fma.MultiplyAdd(a1, m, c); a2 = Fma.MultiplyAdd(a2, m, c);
            a3 = Fma.MultiplyAdd(a3, m, c); a4 = Fma.MultiplyAdd(a4, m, c); a5 = Fma.MultiplyAdd(a5, m, c);
            a6 = Fma.MultiplyAdd(a6, m, c); a7 = Fma.MultiplyAdd(a7, m, c); a8 = Fma.MultiplyAdd(a8, m, c);
            a9 = Fma.MultiplyAdd(a9, m, c); a10 = Fma.MultiplyAdd(a10, m, c); a11 = Fma.MultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [Benchmark]
    public float PeakFma512()
    {
        if (!Avx512F.IsSupported) return 0f;
        Vector512<float> m = Vector512.Create(0.999999f), c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c;
        Vector512<float> a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c); a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c); a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c); a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c); a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}
