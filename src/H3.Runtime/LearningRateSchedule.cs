using System;

namespace H3;

/// <summary>
/// A learning rate as a function of the 0-based optimizer step: constant, or a linear warmup followed by a
/// cosine or linear decay (the schedules of HuggingFace <c>get_cosine_schedule_with_warmup</c> /
/// <c>get_linear_schedule_with_warmup</c>, with an optional floor and warmup start). Immutable.
/// </summary>
public sealed class LearningRateSchedule
{
    private enum Kind
    {
        Constant,
        Cosine,
        Linear,
    }

    private readonly Kind _kind;

    private LearningRateSchedule(Kind kind, float peak, int warmupSteps, int totalSteps, float minimum, float warmupStart)
    {
        _kind = kind;
        Peak = peak;
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        Minimum = minimum;
        WarmupStart = warmupStart;
    }

    /// <summary>The learning rate reached at the end of the warmup (the constant rate of <see cref="Constant"/>).</summary>
    public float Peak { get; }

    /// <summary>Steps of linear warmup (0 for <see cref="Constant"/>).</summary>
    public int WarmupSteps { get; }

    /// <summary>The step at which the decay ends; from it on <see cref="At"/> returns <see cref="Minimum"/>
    /// (<see cref="int.MaxValue"/> for <see cref="Constant"/>).</summary>
    public int TotalSteps { get; }

    /// <summary>The final learning rate, returned from <see cref="TotalSteps"/> on (the constant rate of <see cref="Constant"/>).</summary>
    public float Minimum { get; }

    /// <summary>The learning rate at step 0 when there is a warmup.</summary>
    public float WarmupStart { get; }

    /// <summary>
    /// Linear warmup from <paramref name="warmupStart"/> (step 0) to <paramref name="peak"/> (step
    /// <paramref name="warmupSteps"/>), then half a cosine from <paramref name="peak"/> down to
    /// <paramref name="minimum"/> at step <paramref name="totalSteps"/>, and <paramref name="minimum"/> after.
    /// </summary>
    /// <param name="peak">The learning rate after the warmup (finite, ≥ 0).</param>
    /// <param name="warmupSteps">Steps of warmup (≥ 0, ≤ <paramref name="totalSteps"/>).</param>
    /// <param name="totalSteps">The step where the decay reaches <paramref name="minimum"/> (&gt; 0).</param>
    /// <param name="minimum">The final learning rate (finite, in [0, <paramref name="peak"/>]).</param>
    /// <param name="warmupStart">The learning rate at step 0 (finite, ≥ 0).</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static LearningRateSchedule WarmupCosine(float peak, int warmupSteps, int totalSteps, float minimum = 0f, float warmupStart = 0f)
    {
        CheckRate(peak, nameof(peak));
        CheckSteps(warmupSteps, totalSteps);
        CheckRate(minimum, nameof(minimum));
        if (minimum > peak)
            throw new ArgumentOutOfRangeException(nameof(minimum), minimum, $"minimum ({minimum}) must not exceed peak ({peak}).");
        CheckRate(warmupStart, nameof(warmupStart));
        return new LearningRateSchedule(Kind.Cosine, peak, warmupSteps, totalSteps, minimum, warmupStart);
    }

    /// <summary>
    /// Linear warmup from <paramref name="warmupStart"/> (step 0) to <paramref name="peak"/> (step
    /// <paramref name="warmupSteps"/>), then a linear decay to 0 at step <paramref name="totalSteps"/>, and 0 after.
    /// </summary>
    /// <param name="peak">The learning rate after the warmup (finite, ≥ 0).</param>
    /// <param name="warmupSteps">Steps of warmup (≥ 0, ≤ <paramref name="totalSteps"/>).</param>
    /// <param name="totalSteps">The step where the learning rate reaches 0 (&gt; 0).</param>
    /// <param name="warmupStart">The learning rate at step 0 (finite, ≥ 0).</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static LearningRateSchedule WarmupLinear(float peak, int warmupSteps, int totalSteps, float warmupStart = 0f)
    {
        CheckRate(peak, nameof(peak));
        CheckSteps(warmupSteps, totalSteps);
        CheckRate(warmupStart, nameof(warmupStart));
        return new LearningRateSchedule(Kind.Linear, peak, warmupSteps, totalSteps, 0f, warmupStart);
    }

    /// <summary>The same learning rate at every step.</summary>
    /// <param name="lr">The learning rate (finite, ≥ 0).</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lr"/> is negative or not finite.</exception>
    public static LearningRateSchedule Constant(float lr)
    {
        CheckRate(lr, nameof(lr));
        return new LearningRateSchedule(Kind.Constant, lr, 0, int.MaxValue, lr, lr);
    }

    /// <summary>The learning rate of a step.</summary>
    /// <param name="step">The 0-based step (≥ 0); steps from <see cref="TotalSteps"/> on give the final value.</param>
    /// <returns>The learning rate.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    public float At(int step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (_kind == Kind.Constant) return Peak;
        if (step >= TotalSteps) return Minimum;
        if (step < WarmupSteps)
            return (float)(WarmupStart + ((double)Peak - WarmupStart) * step / WarmupSteps);

        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        double factor = _kind == Kind.Cosine
            ? 0.5 * (1.0 + Math.Cos(Math.PI * progress))
            : 1.0 - progress;
        return (float)(Minimum + ((double)Peak - Minimum) * factor);
    }

    /// <inheritdoc/>
    public override string ToString() => _kind switch
    {
        Kind.Constant => $"Constant({Peak})",
        Kind.Cosine => $"WarmupCosine(peak {Peak}, warmup {WarmupSteps} from {WarmupStart}, total {TotalSteps}, minimum {Minimum})",
        _ => $"WarmupLinear(peak {Peak}, warmup {WarmupSteps} from {WarmupStart}, total {TotalSteps})",
    };

    private static void CheckRate(float value, string paramName)
    {
        if (!float.IsFinite(value) || value < 0f)
            throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be finite and non-negative; got {value}.");
    }

    private static void CheckSteps(int warmupSteps, int totalSteps)
    {
        if (totalSteps <= 0)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"totalSteps must be positive; got {totalSteps}.");
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"warmupSteps must be in [0, totalSteps = {totalSteps}]; got {warmupSteps}.");
    }
}
