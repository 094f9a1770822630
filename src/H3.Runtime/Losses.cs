using System;
using System.Numerics.Tensors;

namespace H3;

/// <summary>
/// Training losses that return the loss and write its gradient, for heads such as <see cref="Linear"/>.
/// Losses are accumulated in float64; nothing is allocated.
/// </summary>
public static class Losses
{
    /// <summary>Floats of exponentials computed at once when no gradient span is given.</summary>
    private const int ExpChunk = 256;

    /// <summary>
    /// Softmax cross-entropy of logits against class indices, averaged over the rows that are not ignored
    /// (PyTorch's <c>F.cross_entropy(logits, targets, ignore_index=&lt;negative&gt;)</c> with mean reduction).
    /// Numerically stable (the row maximum is subtracted before exponentiating).
    /// </summary>
    /// <param name="logits">Logits, [rows, classes] row-major, where rows = <c>targets.Length</c>.</param>
    /// <param name="classes">Classes per row (&gt; 0).</param>
    /// <param name="targets">The class of each row, in [0, classes); a negative target marks a row to ignore.</param>
    /// <param name="gradient">
    /// Receives the gradient of the returned mean loss with respect to <paramref name="logits"/>:
    /// <c>(softmax − onehot) / count</c> for counted rows, 0 for ignored rows (every value is written). Empty to
    /// compute the loss only.
    /// </param>
    /// <returns>The mean loss over the non-ignored rows; 0 when every row is ignored.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is not positive, or a target is ≥ classes.</exception>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    public static float SoftmaxCrossEntropy(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<int> targets, Span<float> gradient)
    {
        int rows = CheckClassification(logits, classes, targets);
        bool writeGradient = !gradient.IsEmpty;
        if (writeGradient)
        {
            if (gradient.Length != logits.Length)
                throw LengthError(nameof(gradient), gradient.Length, logits.Length, $"[{rows}, {classes}], or empty");
            if (gradient.Overlaps(logits, out int offset) && offset != 0)
                throw new ArgumentException("gradient partially overlaps logits; use separate memory or exactly the same span.", nameof(gradient));
        }

        int count = 0;
        foreach (int t in targets)
        {
            if (t >= 0) count++;
        }

        Span<float> buffer = writeGradient ? default : stackalloc float[Math.Min(ExpChunk, classes)];
        float inverseCount = count > 0 ? 1f / count : 0f;
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            int target = targets[r];
            ReadOnlySpan<float> row = logits.Slice(r * classes, classes);
            if (target < 0)
            {
                if (writeGradient) gradient.Slice(r * classes, classes).Clear();
                continue;
            }

            float max = TensorPrimitives.Max(row);
            float targetLogit = row[target];
            double sum;
            if (writeGradient)
            {
                Span<float> g = gradient.Slice(r * classes, classes);
                TensorPrimitives.Subtract(row, max, g);
                TensorPrimitives.Exp(g, g);
                sum = TensorPrimitives.Sum<float>(g);
                // softmax / count, then − 1/count at the target.
                TensorPrimitives.Multiply(g, (float)(inverseCount / sum), g);
                g[target] -= inverseCount;
            }
            else
            {
                sum = 0;
                for (int c = 0; c < classes; c += buffer.Length)
                {
                    int n = Math.Min(buffer.Length, classes - c);
                    Span<float> e = buffer.Slice(0, n);
                    TensorPrimitives.Subtract(row.Slice(c, n), max, e);
                    TensorPrimitives.Exp(e, e);
                    sum += TensorPrimitives.Sum<float>(e);
                }
            }
            // −log softmax[target] = log Σ exp(x − max) − (x_target − max)
            total += Math.Log(sum) - ((double)targetLogit - max);
        }
        return count > 0 ? (float)(total / count) : 0f;
    }

    /// <summary>The number of non-ignored rows whose arg-max logit (the first, on ties) equals the target.</summary>
    /// <param name="logits">Logits, [rows, classes] row-major, where rows = <c>targets.Length</c>.</param>
    /// <param name="classes">Classes per row (&gt; 0).</param>
    /// <param name="targets">The class of each row, in [0, classes); a negative target marks a row to ignore.</param>
    /// <returns>The number of correctly classified rows.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is not positive, or a target is ≥ classes.</exception>
    /// <exception cref="ArgumentException"><paramref name="logits"/> has the wrong length.</exception>
    public static int CountCorrect(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<int> targets)
    {
        int rows = CheckClassification(logits, classes, targets);
        int correct = 0;
        for (int r = 0; r < rows; r++)
        {
            int target = targets[r];
            if (target < 0) continue;
            if (TensorPrimitives.IndexOfMax(logits.Slice(r * classes, classes)) == target) correct++;
        }
        return correct;
    }

    /// <summary>Mean squared error over all elements (PyTorch's <c>F.mse_loss</c> with mean reduction).</summary>
    /// <param name="prediction">The predictions.</param>
    /// <param name="target">The targets, as many as <paramref name="prediction"/>.</param>
    /// <param name="gradient">Receives <c>2(prediction − target)/n</c>, the gradient of the returned loss with respect
    /// to <paramref name="prediction"/>; empty to compute the loss only.</param>
    /// <returns>The mean of <c>(prediction − target)²</c>; 0 for empty spans.</returns>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    public static float MeanSquaredError(ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, Span<float> gradient)
    {
        int n = prediction.Length;
        if (target.Length != n) throw LengthError(nameof(target), target.Length, n, "the length of prediction");
        if (!gradient.IsEmpty && gradient.Length != n)
            throw LengthError(nameof(gradient), gradient.Length, n, "the length of prediction, or empty");
        if (n == 0) return 0f;

        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double d = (double)prediction[i] - target[i];
            sum += d * d;
        }
        if (!gradient.IsEmpty)
        {
            TensorPrimitives.Subtract(prediction, target, gradient);
            TensorPrimitives.Multiply(gradient, (float)(2.0 / n), gradient);
        }
        return (float)(sum / n);
    }

    /// <summary>Validates a classification call; returns the number of rows.</summary>
    private static int CheckClassification(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<int> targets)
    {
        if (classes <= 0)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be positive; got {classes}.");
        int rows = targets.Length;
        if (logits.Length != (long)rows * classes)
            throw LengthError(nameof(logits), logits.Length, (long)rows * classes, $"[{rows}, {classes}] for {rows} targets");
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] >= classes)
                throw new ArgumentOutOfRangeException(nameof(targets), targets[r], $"targets[{r}] is {targets[r]}; it must be below classes ({classes}), or negative to ignore the row.");
        }
        return rows;
    }

    private static ArgumentException LengthError(string paramName, int actual, long expected, string shape)
        => new($"{paramName} must hold {expected} values ({shape}); it holds {actual}.", paramName);
}
