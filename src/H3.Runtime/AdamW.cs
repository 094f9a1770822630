using System;
using System.Collections.Generic;
using System.Numerics.Tensors;

namespace H3;

/// <summary>Hyper-parameters of <see cref="AdamW"/> (PyTorch's defaults, except the H3 recipe's weight decay 0.1).</summary>
public sealed class AdamWOptions
{
    /// <summary>Decay of the first moment (PyTorch <c>betas[0]</c>); in [0, 1). Default 0.9.</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>Decay of the second moment (PyTorch <c>betas[1]</c>); in [0, 1). Default 0.999.</summary>
    public float Beta2 { get; init; } = 0.999f;

    /// <summary>Added to the denominator for numerical stability; ≥ 0. Default 1e-8.</summary>
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>Decoupled weight decay of the <see cref="H3Tensor.DefaultGroup"/> (the "ssm" group has none); ≥ 0. Default 0.1.</summary>
    public float WeightDecay { get; init; } = 0.1f;

    /// <summary>
    /// The learning-rate cap of the <see cref="H3Tensor.SsmGroup"/>: that group uses
    /// <c>min(SsmLearningRate, learningRate)</c>; ≥ 0. Default 1e-3 (the official H3 recipe).
    /// </summary>
    public float SsmLearningRate { get; init; } = 1e-3f;

    /// <summary>
    /// When set, the global gradient norm is clipped to this value before the update, as
    /// <c>torch.nn.utils.clip_grad_norm_</c> does; must be positive and finite. Default: no clipping.
    /// </summary>
    public float? MaxGradientNorm { get; init; }
}

/// <summary>The outcome of one <see cref="AdamW.Step(Span{float}, ReadOnlySpan{float}, float)"/>.</summary>
/// <param name="Applied">
/// <see langword="true"/> when the update was applied; <see langword="false"/> when the loss or the gradient norm
/// was NaN or infinite and the step was skipped (parameters, moments and <see cref="AdamW.StepCount"/> bit-unchanged;
/// <see cref="AdamW.SkippedSteps"/> counts it and <see cref="SkipReason"/> says why).
/// </param>
/// <param name="GradientNorm">The global L2 norm of the gradients, before clipping.</param>
/// <param name="Scale">The clipping factor applied to the gradients (1 when no clipping happened).</param>
public readonly record struct AdamWStep(bool Applied, float GradientNorm, float Scale)
{
    /// <summary>Why the step was skipped; <see cref="AdamWSkipReason.None"/> when it was applied.</summary>
    public AdamWSkipReason SkipReason { get; init; }
}

/// <summary>Why <see cref="AdamW"/> skipped a step.</summary>
public enum AdamWSkipReason
{
    /// <summary>The step was applied.</summary>
    None,

    /// <summary>The global gradient norm was NaN or infinite (some gradient was NaN or infinite, or the squares overflowed).</summary>
    NonFiniteGradient,

    /// <summary>The loss passed to the step was NaN or infinite.</summary>
    NonFiniteLoss,
}

/// <summary>
/// AdamW over a model's flat parameters and gradients, with exactly PyTorch's <c>torch.optim.AdamW</c> semantics
/// (decoupled weight decay applied before the Adam update, bias-corrected moments), honouring the parameter
/// groups of H3-SPEC.md: tensors of the <see cref="H3Tensor.SsmGroup"/> use
/// <c>min(SsmLearningRate, learningRate)</c> and no weight decay; the <see cref="H3Tensor.DefaultGroup"/> uses
/// the learning rate and <see cref="AdamWOptions.WeightDecay"/>. Optional global-norm gradient clipping as
/// <c>torch.nn.utils.clip_grad_norm_</c>. All memory is allocated by the constructor; a step allocates nothing.
/// Not thread-safe.
/// </summary>
public sealed class AdamW
{
    /// <summary>Floats processed per pass through the scratch buffers.</summary>
    private const int ChunkSize = 4096;

    private readonly H3Tensor[] _layout;
    private readonly Run[] _runs;
    private readonly float[] _m;
    private readonly float[] _v;
    private readonly float[] _scratchA;
    private readonly float[] _scratchB;

    /// <summary>A maximal stretch of consecutive floats of one group.</summary>
    private readonly record struct Run(int Offset, int Length, bool Ssm);

    /// <summary>Creates an optimizer for parameters described by <paramref name="layout"/>.</summary>
    /// <param name="layout">
    /// The tensors; together they must cover <c>[0, total)</c> exactly once (in any order), and each group must be
    /// <see cref="H3Tensor.DefaultGroup"/> or <see cref="H3Tensor.SsmGroup"/>.
    /// </param>
    /// <param name="options">Hyper-parameters; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentException">The layout is empty, holds a null tensor, an unknown group, a gap or an overlap.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public AdamW(ReadOnlySpan<H3Tensor> layout, AdamWOptions? options = null)
    {
        options ??= new AdamWOptions();
        CheckOptions(options);
        Options = options;

        if (layout.IsEmpty) throw new ArgumentException("The layout holds no tensors.", nameof(layout));
        var sorted = layout.ToArray();
        for (int i = 0; i < sorted.Length; i++)
        {
            H3Tensor? tensor = sorted[i];
            if (tensor is null) throw new ArgumentException($"The layout holds a null tensor at index {i}.", nameof(layout));
            if (tensor.Group != H3Tensor.DefaultGroup && tensor.Group != H3Tensor.SsmGroup)
            {
                throw new ArgumentException(
                    $"tensor '{tensor.Name}' has group '{tensor.Group}'; expected '{H3Tensor.DefaultGroup}' or '{H3Tensor.SsmGroup}'.",
                    nameof(layout));
            }
        }
        _layout = (H3Tensor[])sorted.Clone();
        Array.Sort(sorted, static (a, b) => a.Offset.CompareTo(b.Offset));

        var runs = new List<Run>();
        long total = 0;
        foreach (H3Tensor tensor in sorted)
        {
            if (tensor.Offset != total)
            {
                throw new ArgumentException(
                    tensor.Offset > total
                        ? $"The layout leaves floats [{total}, {tensor.Offset}) uncovered before tensor '{tensor.Name}'."
                        : $"tensor '{tensor.Name}' at offset {tensor.Offset} overlaps the tensor before it (which ends at {total}).",
                    nameof(layout));
            }
            if (tensor.Length == 0) continue;
            bool ssm = tensor.Group == H3Tensor.SsmGroup;
            if (runs.Count > 0 && runs[^1].Ssm == ssm)
            {
                runs[^1] = runs[^1] with { Length = runs[^1].Length + tensor.Length };
            }
            else
            {
                runs.Add(new Run(tensor.Offset, tensor.Length, ssm));
            }
            total += tensor.Length;
            if (total > Array.MaxLength) throw new ArgumentException($"The layout holds more than {Array.MaxLength} floats.", nameof(layout));
        }

        ParameterCount = (int)total;
        _runs = runs.ToArray();
        _m = new float[ParameterCount];
        _v = new float[ParameterCount];
        int chunk = Math.Min(ChunkSize, ParameterCount);
        _scratchA = new float[chunk];
        _scratchB = new float[chunk];
    }

    /// <summary>Creates an optimizer for a model's parameters (<see cref="IH3Model.Tensors"/>).</summary>
    /// <param name="model">The model.</param>
    /// <param name="options">Hyper-parameters; <see langword="null"/> for the defaults.</param>
    public AdamW(IH3Model model, AdamWOptions? options = null)
        : this((model ?? throw new ArgumentNullException(nameof(model))).Tensors, options)
    {
    }

    /// <summary>The hyper-parameters.</summary>
    public AdamWOptions Options { get; }

    /// <summary>The number of floats the layout covers: the length <see cref="Step(Span{float}, ReadOnlySpan{float}, float)"/> expects.</summary>
    public int ParameterCount { get; }

    /// <summary>The tensors the optimizer was created for.</summary>
    public ReadOnlySpan<H3Tensor> Tensors => _layout;

    /// <summary>Applied steps since creation or <see cref="Reset"/> (PyTorch's <c>step</c>; skipped steps do not count).</summary>
    public int StepCount { get; private set; }

    /// <summary>Steps skipped because the loss or the gradient norm was NaN or infinite, since creation or <see cref="Reset"/>.</summary>
    public int SkippedSteps { get; private set; }

    /// <summary>Why the most recent step was skipped, or <see cref="AdamWSkipReason.None"/> when it was applied (or no step was taken).</summary>
    public AdamWSkipReason LastSkipReason { get; private set; }

    /// <summary>The first moments (tests).</summary>
    internal ReadOnlySpan<float> FirstMoments => _m;

    /// <summary>The second moments (tests).</summary>
    internal ReadOnlySpan<float> SecondMoments => _v;

    /// <summary>One AdamW update of a model's <see cref="IH3Model.Parameters"/> from its <see cref="IH3Model.Gradients"/>.</summary>
    /// <param name="model">The model; its gradients are not modified.</param>
    /// <param name="learningRate">The learning rate of the default group (finite, ≥ 0).</param>
    /// <returns>Whether the step was applied, the gradient norm and the clipping factor.</returns>
    public AdamWStep Step(IH3Model model, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Step(model.Parameters, model.Gradients, learningRate);
    }

    /// <summary>
    /// One AdamW update of a model's <see cref="IH3Model.Parameters"/> from its <see cref="IH3Model.Gradients"/>,
    /// skipped (nothing changes but <see cref="SkippedSteps"/>) when <paramref name="loss"/> is NaN or infinite.
    /// </summary>
    /// <param name="model">The model; its gradients are not modified.</param>
    /// <param name="learningRate">The learning rate of the default group (finite, ≥ 0).</param>
    /// <param name="loss">The loss the gradients were computed from; only checked for being finite.</param>
    /// <returns>Whether the step was applied (and if not, why), the gradient norm and the clipping factor.</returns>
    public AdamWStep Step(IH3Model model, float learningRate, float loss)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Step(model.Parameters, model.Gradients, learningRate, loss);
    }

    /// <summary>
    /// <see cref="Step(Span{float}, ReadOnlySpan{float}, float)"/>, skipped (nothing changes but
    /// <see cref="SkippedSteps"/>) when <paramref name="loss"/> is NaN or infinite: a diverged loss is reported by
    /// <see cref="AdamWStep.SkipReason"/> = <see cref="AdamWSkipReason.NonFiniteLoss"/> instead of reaching the weights.
    /// </summary>
    /// <param name="parameters">The flat parameters, updated in place; <see cref="ParameterCount"/> floats.</param>
    /// <param name="gradients">The flat gradients, same layout; never modified.</param>
    /// <param name="learningRate">The learning rate of the default group (finite, ≥ 0).</param>
    /// <param name="loss">The loss the gradients were computed from; only checked for being finite.</param>
    /// <returns>Whether the step was applied (and if not, why), the gradient norm and the clipping factor.</returns>
    /// <exception cref="ArgumentException">A span does not hold <see cref="ParameterCount"/> floats.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is negative or not finite.</exception>
    public AdamWStep Step(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate, float loss)
    {
        if (float.IsFinite(loss)) return Step(parameters, gradients, learningRate);
        CheckStepArguments(parameters, gradients, learningRate);
        SkippedSteps++;
        LastSkipReason = AdamWSkipReason.NonFiniteLoss;
        return new AdamWStep(false, GlobalNorm(gradients), 1f) { SkipReason = AdamWSkipReason.NonFiniteLoss };
    }

    /// <summary>
    /// One AdamW update, exactly as <c>torch.optim.AdamW</c> (after <c>clip_grad_norm_</c> when
    /// <see cref="AdamWOptions.MaxGradientNorm"/> is set): <c>p ← p − lr·wd·p</c>, <c>m ← β1·m + (1−β1)·g</c>,
    /// <c>v ← β2·v + (1−β2)·g²</c>, <c>p ← p − lr·m̂/(√v̂ + ε)</c> with bias-corrected <c>m̂</c>, <c>v̂</c>.
    /// When the gradient norm is NaN or infinite nothing changes except <see cref="SkippedSteps"/> and <see cref="LastSkipReason"/>.
    /// </summary>
    /// <param name="parameters">The flat parameters, updated in place; <see cref="ParameterCount"/> floats.</param>
    /// <param name="gradients">The flat gradients, same layout; never modified (clipping scales a private copy).</param>
    /// <param name="learningRate">The learning rate of the default group (finite, ≥ 0); the ssm group uses
    /// <c>min(SsmLearningRate, learningRate)</c>.</param>
    /// <returns>Whether the step was applied, the gradient norm and the clipping factor.</returns>
    /// <exception cref="ArgumentException">A span does not hold <see cref="ParameterCount"/> floats.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is negative or not finite.</exception>
    public AdamWStep Step(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate)
    {
        CheckStepArguments(parameters, gradients, learningRate);

        float norm = GlobalNorm(gradients);
        if (!float.IsFinite(norm))
        {
            SkippedSteps++;
            LastSkipReason = AdamWSkipReason.NonFiniteGradient;
            return new AdamWStep(false, norm, 1f) { SkipReason = AdamWSkipReason.NonFiniteGradient };
        }
        LastSkipReason = AdamWSkipReason.None;

        // torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6), clamped to at most 1 (float32).
        float scale = 1f;
        if (Options.MaxGradientNorm is float maxNorm)
        {
            float coef = maxNorm / (norm + 1e-6f);
            if (coef < 1f) scale = coef;
        }

        int t = StepCount + 1;
        float beta1 = Options.Beta1, beta2 = Options.Beta2;
        // Python floats (double), as torch computes the bias corrections for non-capturable steps.
        double biasCorrection1 = 1.0 - Math.Pow(beta1, t);
        double biasCorrection2Sqrt = Math.Sqrt(1.0 - Math.Pow(beta2, t));
        float ssmRate = Math.Min(Options.SsmLearningRate, learningRate);

        foreach (Run run in _runs)
        {
            float lr = run.Ssm ? ssmRate : learningRate;
            float decay = run.Ssm ? 0f : Options.WeightDecay;
            float keep = (float)(1.0 - (double)lr * decay);
            float stepSize = (float)(lr / biasCorrection1);
            for (int start = 0; start < run.Length; start += _scratchA.Length)
            {
                int n = Math.Min(_scratchA.Length, run.Length - start);
                int offset = run.Offset + start;
                Update(
                    parameters.Slice(offset, n), gradients.Slice(offset, n),
                    _m.AsSpan(offset, n), _v.AsSpan(offset, n),
                    _scratchA.AsSpan(0, n), _scratchB.AsSpan(0, n),
                    scale, keep, decay != 0f, stepSize, (float)biasCorrection2Sqrt);
            }
        }

        StepCount = t;
        return new AdamWStep(true, norm, scale);
    }

    /// <summary>Clears the moments and both counters: the next step is a first step again.</summary>
    public void Reset()
    {
        Array.Clear(_m);
        Array.Clear(_v);
        StepCount = 0;
        SkippedSteps = 0;
        LastSkipReason = AdamWSkipReason.None;
    }

    private void Update(
        Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> a, Span<float> b,
        float scale, float keep, bool decay, float stepSize, float biasCorrection2Sqrt)
    {
        float beta1 = Options.Beta1, beta2 = Options.Beta2;

        // Decoupled weight decay: p ← p·(1 − lr·wd).
        if (decay) TensorPrimitives.Multiply(p, keep, p);

        // The gradient used: clipped into scratch when a scale applies (the caller's span is never written).
        ReadOnlySpan<float> grad = g;
        if (scale != 1f)
        {
            TensorPrimitives.Multiply(g, scale, a);
            grad = a;
        }

        // m ← β1·m + (1 − β1)·g
        TensorPrimitives.Multiply(m, beta1, m);
        TensorPrimitives.MultiplyAdd(grad, 1f - beta1, m, m);

        // v ← β2·v + (1 − β2)·g²
        TensorPrimitives.Multiply(grad, grad, b);
        TensorPrimitives.Multiply(v, beta2, v);
        TensorPrimitives.MultiplyAdd(b, 1f - beta2, v, v);

        // denom = √v / √(1 − β2^t) + ε ;  p ← p − (lr / (1 − β1^t))·m / denom
        TensorPrimitives.Sqrt(v, b);
        TensorPrimitives.Divide(b, biasCorrection2Sqrt, b);
        TensorPrimitives.Add(b, Options.Epsilon, b);
        TensorPrimitives.Divide(m, b, a);
        TensorPrimitives.MultiplyAdd(a, -stepSize, p, p);
    }

    /// <summary>The global L2 norm of the gradients, accumulated per tensor in float64.</summary>
    private float GlobalNorm(ReadOnlySpan<float> gradients)
    {
        double sum = 0;
        foreach (Run run in _runs)
        {
            ReadOnlySpan<float> g = gradients.Slice(run.Offset, run.Length);
            for (int start = 0; start < g.Length; start += ChunkSize)
            {
                ReadOnlySpan<float> chunk = g.Slice(start, Math.Min(ChunkSize, g.Length - start));
                float s = TensorPrimitives.SumOfSquares(chunk);
                if (float.IsFinite(s))
                {
                    sum += s;
                }
                else
                {
                    // Large finite values overflow float32 squares: redo this chunk in float64
                    // (stays non-finite only for NaN or infinite gradients).
                    double d = 0;
                    foreach (float x in chunk) d += (double)x * x;
                    sum += d;
                }
            }
        }
        return (float)Math.Sqrt(sum);
    }

    private void CheckStepArguments(ReadOnlySpan<float> parameters, ReadOnlySpan<float> gradients, float learningRate)
    {
        if (parameters.Length != ParameterCount) ThrowLength(nameof(parameters), parameters.Length);
        if (gradients.Length != ParameterCount) ThrowLength(nameof(gradients), gradients.Length);
        if (!float.IsFinite(learningRate) || learningRate < 0f)
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, $"learningRate must be finite and non-negative; got {learningRate}.");
    }

    private void ThrowLength(string paramName, int actual)
        => H3Args.CheckLength(actual, ParameterCount, paramName, $"the layout's {_layout.Length} tensors");

    private static void CheckOptions(AdamWOptions o)
    {
        const string name = "options";
        if (!(o.Beta1 >= 0f && o.Beta1 < 1f))
            throw new ArgumentOutOfRangeException(name, o.Beta1, $"options.Beta1 must be in [0, 1); got {o.Beta1}.");
        if (!(o.Beta2 >= 0f && o.Beta2 < 1f))
            throw new ArgumentOutOfRangeException(name, o.Beta2, $"options.Beta2 must be in [0, 1); got {o.Beta2}.");
        if (!(o.Epsilon >= 0f) || !float.IsFinite(o.Epsilon))
            throw new ArgumentOutOfRangeException(name, o.Epsilon, $"options.Epsilon must be finite and non-negative; got {o.Epsilon}.");
        if (!(o.WeightDecay >= 0f) || !float.IsFinite(o.WeightDecay))
            throw new ArgumentOutOfRangeException(name, o.WeightDecay, $"options.WeightDecay must be finite and non-negative; got {o.WeightDecay}.");
        if (!(o.SsmLearningRate >= 0f) || !float.IsFinite(o.SsmLearningRate))
            throw new ArgumentOutOfRangeException(name, o.SsmLearningRate, $"options.SsmLearningRate must be finite and non-negative; got {o.SsmLearningRate}.");
        if (o.MaxGradientNorm is float max && !(max > 0f && float.IsFinite(max)))
            throw new ArgumentOutOfRangeException(name, max, $"options.MaxGradientNorm must be positive and finite when set; got {max}.");
    }
}
