using System;
using System.Diagnostics;
using H3;

namespace AssociativeRecall;

/// <summary>What one training run is asked to do.</summary>
/// <param name="Epochs">Passes over the training set.</param>
/// <param name="LearningRate">Peak learning rate of the default group (the SSM group gets min(1e-3, lr)).</param>
/// <param name="BatchSize">Windows per step (the last step of an epoch may be smaller).</param>
/// <param name="Seed">Initialisation and shuffling seed.</param>
/// <param name="EvalEvery">Evaluate the test set every this many epochs (and always after the last).</param>
/// <param name="Cosine">Timm-style cosine schedule (induction head recipe) instead of linear warmup + decay.</param>
/// <param name="Threads">Data-parallel shards per batch (one thread each); the same seed and thread count give the same bits.</param>
public sealed record TrainingOptions(int Epochs, float LearningRate, int BatchSize, int Seed, int EvalEvery, bool Cosine, int Threads = 1);

/// <summary>The outcome of one epoch.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="Loss">Mean training cross-entropy over every position of every step of the epoch.</param>
/// <param name="TestAccuracy">Last-position test accuracy in [0, 1], or NaN when not evaluated this epoch.</param>
/// <param name="LearningRate">The learning rate of the epoch's last step.</param>
/// <param name="Seconds">Wall time of the epoch's training steps (evaluation excluded).</param>
public readonly record struct EpochResult(int Epoch, float Loss, float TestAccuracy, float LearningRate, double Seconds);

/// <summary>
/// Trains an H3 model plus a linear head for next-token prediction on every position (the safari recipe) and
/// measures test accuracy on the last position only. Everything the step loop touches is allocated up front.
/// Each batch is split into contiguous shards run on their own threads (H3ShardRunner), each with its own
/// workspace and gradient buffers; the shards' gradients are then added in shard order, so a run is
/// reproducible bit for bit for a given seed and thread count.
/// </summary>
public sealed class Trainer : IDisposable
{
    private const int EvalBatch = 100;

    private readonly IH3Model _model;
    private readonly Linear _head;
    private readonly AdamW _modelOptimizer;
    private readonly AdamW _headOptimizer;
    private readonly LearningRateSchedule _schedule;
    private readonly H3Workspace[] _workspaces;
    private readonly H3ShardRunner _runner;
    private readonly Action<int> _shardStep;
    private readonly float[][] _modelGradients, _headGradients;
    private readonly double[] _shardLoss;
    private int _stepFirst, _stepBatch;
    private readonly SyntheticDataset _data;
    private readonly TrainingOptions _options;
    private readonly int _t, _e, _h, _v, _b;
    private readonly float[] _input, _sequence, _logits, _logitsGradient, _sequenceGradient;
    private readonly int[] _targets;
    private readonly float[] _evalInput, _evalOutput, _evalLogits;
    private readonly int[] _evalTargets;
    private readonly int[] _order;
    private H3Random _shuffle;
    private int _step;

    /// <summary>Prepares the optimizers, schedule and every buffer of the step loop.</summary>
    public Trainer(IH3Model model, SyntheticDataset data, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        _model = model;
        _data = data;
        _options = options;
        H3ModelInfo info = model.Info;
        _t = info.WindowSize;
        _e = info.EmbedDim;
        _h = info.OutputSize;
        _v = data.VocabSize;
        _b = options.BatchSize;
        if (_t != data.Train.Length) throw new ArgumentException($"the model's WindowSize {_t} differs from the data's input length {data.Train.Length}.");
        if (_e != _v) throw new ArgumentException($"the model's EmbedDim {_e} must equal the vocabulary size {_v} (one-hot frames).");

        _head = new Linear(_h, _v, options.Seed + 1);
        float lr = options.LearningRate;
        // safari: AdamW(lr, wd 0.1, betas (0.9, 0.999)); the SSM group gets lr = min(1e-3, lr) and wd 0; no clipping.
        var adam = new AdamWOptions { WeightDecay = 0.1f, SsmLearningRate = MathF.Min(1e-3f, lr), MaxGradientNorm = null };
        _modelOptimizer = new AdamW(model, adam);
        _headOptimizer = new AdamW(_head.Tensors, adam);

        StepsPerEpoch = (data.Train.Count + _b - 1) / _b;
        TotalSteps = StepsPerEpoch * options.Epochs;
        int warmupEpochs = (options.Epochs + 9) / 10; // ⌈epochs/10⌉
        _schedule = options.Cosine
            // induction-head recipe: timm cosine per step, 10% warmup from 1e-6, lr_min = 0.1·lr
            ? LearningRateSchedule.WarmupCosine(lr, Math.Max(1, TotalSteps / 10), TotalSteps, 0.1f * lr, 1e-6f)
            // associative-recall recipe: linear warmup over ⌈epochs/10⌉ epochs, then linear decay to 0
            : LearningRateSchedule.WarmupLinear(lr, warmupEpochs * StepsPerEpoch, TotalSteps, 0f);

        int threads = Math.Clamp(options.Threads, 1, _b);
        _runner = new H3ShardRunner(threads);
        _shardStep = ShardStep;
        _workspaces = new H3Workspace[threads];
        _modelGradients = new float[threads][];
        _headGradients = new float[threads][];
        _shardLoss = new double[threads];
        for (int s = 0; s < threads; s++)
        {
            _workspaces[s] = model.CreateWorkspace(_runner.Split(_b, 0).Count);
            _workspaces[s].SeedDropout(options.Seed * 1000 + s);
            _modelGradients[s] = new float[model.Parameters.Length];
            _headGradients[s] = new float[_head.Parameters.Length];
        }
        _input = new float[_b * _t * _e];
        _sequence = new float[_b * _t * _h];
        _sequenceGradient = new float[_b * _t * _h];
        _logits = new float[_b * _t * _v];
        _logitsGradient = new float[_b * _t * _v];
        _targets = new int[_b * _t];
        _evalInput = new float[EvalBatch * _t * _e];
        _evalOutput = new float[EvalBatch * _h];
        _evalLogits = new float[EvalBatch * _v];
        _evalTargets = new int[EvalBatch];
        _order = new int[data.Train.Count];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        _shuffle = new H3Random(options.Seed, 0xDA7A);
    }

    /// <summary>Optimizer steps per epoch (⌈train / batch⌉).</summary>
    public int StepsPerEpoch { get; }

    /// <summary>Optimizer steps of the whole run.</summary>
    public int TotalSteps { get; }

    /// <summary>Trainable parameters: the H3 model plus the head.</summary>
    public int ParameterCount => _model.Parameters.Length + _head.Parameters.Length;

    /// <summary>Bytes allocated on this thread by the training steps of the first epoch (first-call costs).</summary>
    public long FirstEpochAllocatedBytes { get; private set; }

    /// <summary>Bytes allocated on this thread by the training steps of every later epoch (should stay 0).</summary>
    public long StepAllocatedBytes { get; private set; }

    /// <summary>Runs one epoch: a fresh shuffle, then every batch (forward, loss, backward, AdamW).</summary>
    public EpochResult TrainEpoch(int epoch)
    {
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = _shuffle.NextInt(i + 1);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        double lossSum = 0;
        float lr = 0;
        for (int first = 0; first < _order.Length; first += _b)
        {
            int batch = Math.Min(_b, _order.Length - first);
            lr = _schedule.At(_step);
            lossSum += Step(first, batch, lr);
            _step++;
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        if (epoch == 1) FirstEpochAllocatedBytes = allocated;
        else StepAllocatedBytes += allocated;
        float accuracy = float.NaN;
        if (epoch % _options.EvalEvery == 0 || epoch == _options.Epochs) accuracy = Evaluate();
        return new EpochResult(epoch, (float)(lossSum / StepsPerEpoch), accuracy, lr, seconds);
    }

    private float Step(int first, int batch, float lr)
    {
        int rows = batch * _t;
        Span<float> input = _input.AsSpan(0, rows * _e);
        Span<int> targets = _targets.AsSpan(0, rows);
        Split train = new(_data.Train);
        for (int i = 0; i < batch; i++)
        {
            int example = _order[first + i];
            OneHot(train.Inputs(example, _t), input.Slice(i * _t * _e, _t * _e));
            train.Targets(example, _t).CopyTo(targets.Slice(i * _t, _t));
        }
        _stepFirst = first;
        _stepBatch = batch;
        _runner.Run(_shardStep);

        // Deterministic reduction: shard 0, then 1, ... into the model's and the head's gradients.
        _model.ZeroGradients();
        _head.ZeroGradients();
        double loss = 0;
        for (int s = 0; s < _runner.Shards; s++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(_model.Gradients, _modelGradients[s], _model.Gradients);
            System.Numerics.Tensors.TensorPrimitives.Add(_head.Gradients, _headGradients[s], _head.Gradients);
            loss += _shardLoss[s];
        }
        _modelOptimizer.Step(_model.Parameters, _model.Gradients, lr);
        _headOptimizer.Step(_head.Parameters, _head.Gradients, lr);
        return (float)loss;
    }

    /// <summary>One shard of a step: forward, every-position cross-entropy, backward into the shard's own buffers.</summary>
    private void ShardStep(int shard)
    {
        var (start, count) = _runner.Split(_stepBatch, shard);
        _modelGradients[shard].AsSpan().Clear();
        _headGradients[shard].AsSpan().Clear();
        _shardLoss[shard] = 0;
        if (count == 0) return;
        int rows = count * _t, firstRow = start * _t, totalRows = _stepBatch * _t;
        Span<float> input = _input.AsSpan(firstRow * _e, rows * _e);
        Span<int> targets = _targets.AsSpan(firstRow, rows);
        Span<float> sequence = _sequence.AsSpan(firstRow * _h, rows * _h);
        Span<float> sequenceGradient = _sequenceGradient.AsSpan(firstRow * _h, rows * _h);
        Span<float> logits = _logits.AsSpan(firstRow * _v, rows * _v);
        Span<float> logitsGradient = _logitsGradient.AsSpan(firstRow * _v, rows * _v);

        _model.ForwardSequence(input, sequence, count, _workspaces[shard], training: true);
        _head.Forward(sequence, logits, rows);
        // next-token cross-entropy on every position (safari: no mask in training), mean over the batch's B·T
        // tokens: the shard's mean, weighted by its share of the rows
        float share = (float)rows / totalRows;
        _shardLoss[shard] = Losses.SoftmaxCrossEntropy(logits, _v, targets, logitsGradient) * (double)share;
        System.Numerics.Tensors.TensorPrimitives.Multiply(logitsGradient, share, logitsGradient);
        _head.Backward(sequence, logitsGradient, sequenceGradient, rows, _headGradients[shard]);
        _model.BackwardSequence(sequenceGradient, _workspaces[shard], default, _modelGradients[shard]);
    }

    /// <summary>Stops the shard threads.</summary>
    public void Dispose() => _runner.Dispose();

    /// <summary>Test accuracy on the last position (the answer after "=>"), with the inference Forward.</summary>
    public float Evaluate()
    {
        SyntheticSplit test = _data.Test;
        Split split = new(test);
        int correct = 0;
        for (int first = 0; first < test.Count; first += EvalBatch)
        {
            int batch = Math.Min(EvalBatch, test.Count - first);
            Span<float> input = _evalInput.AsSpan(0, batch * _t * _e);
            Span<int> targets = _evalTargets.AsSpan(0, batch);
            for (int i = 0; i < batch; i++)
            {
                OneHot(split.Inputs(first + i, _t), input.Slice(i * _t * _e, _t * _e));
                targets[i] = split.Targets(first + i, _t)[_t - 1];
            }
            Span<float> output = _evalOutput.AsSpan(0, batch * _h);
            Span<float> logits = _evalLogits.AsSpan(0, batch * _v);
            _model.Forward(input, output, batch); // the final LayerNorm at the last frame
            _head.Forward(output, logits, batch);
            correct += Losses.CountCorrect(logits, _v, targets);
        }
        return (float)correct / test.Count;
    }

    private void OneHot(ReadOnlySpan<int> tokens, Span<float> frames)
    {
        frames.Clear();
        for (int t = 0; t < tokens.Length; t++) frames[t * _e + tokens[t]] = 1f;
    }

    private readonly ref struct Split(SyntheticSplit split)
    {
        private readonly int[] _inputs = split.Inputs;
        private readonly int[] _targets = split.Targets;

        public ReadOnlySpan<int> Inputs(int example, int length) => _inputs.AsSpan(example * length, length);

        public ReadOnlySpan<int> Targets(int example, int length) => _targets.AsSpan(example * length, length);
    }
}
