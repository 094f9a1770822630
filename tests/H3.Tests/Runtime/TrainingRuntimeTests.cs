using System;
using System.IO;
using System.Linq;
using H3.Tests.Models;

namespace H3.Tests;

/// <summary>
/// Tests of the training runtime: <see cref="AdamW"/> against hand-written float64 arithmetic (PyTorch's
/// AdamW and clip_grad_norm_), its skipping of non-finite steps and its allocation-free step;
/// <see cref="Losses"/> against hand computations and central finite differences; <see cref="Linear"/> against
/// naive loops and finite differences; <see cref="LearningRateSchedule"/> at its key steps.
/// </summary>
public class TrainingRuntimeTests
{
    // ---------------------------------------------------------------------------------------------------
    // AdamW

    /// <summary>Tensor "a" (default group, 3 floats) then tensor "b" (ssm group, 2 floats).</summary>
    private static H3Tensor[] TwoGroupLayout() =>
    [
        new H3Tensor("a", [3], 0, H3Tensor.DefaultGroup),
        new H3Tensor("b", [2], 3, H3Tensor.SsmGroup),
    ];

    private static readonly bool[] IsSsm = [false, false, false, true, true];
    private static readonly float[] P0 = [0.5f, -1.0f, 2.0f, 0.3f, -0.7f];
    private static readonly float[] G1 = [0.1f, -0.2f, 0.3f, 0.05f, -0.4f];
    private static readonly float[] G2 = [-0.3f, 0.1f, 0.2f, 0.2f, 0.1f];

    /// <summary>
    /// PyTorch's AdamW in float64, written out: optional clip_grad_norm_, then per element
    /// p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
    /// p ← p − lr·(m/(1 − β1^t)) / (√(v/(1 − β2^t)) + ε), with the ssm group at min(ssmLr, lr) and wd 0.
    /// </summary>
    private static double[] ReferenceAdamW(float[] p0, float[][] grads, double lr, double wd, double ssmLr, double? maxNorm,
        out double[] norms, out double[] scales)
    {
        double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        int n = p0.Length;
        double[] p = p0.Select(x => (double)x).ToArray();
        var m = new double[n];
        var v = new double[n];
        norms = new double[grads.Length];
        scales = new double[grads.Length];
        for (int s = 0; s < grads.Length; s++)
        {
            int t = s + 1;
            double[] g = grads[s].Select(x => (double)x).ToArray();
            double sq = 0;
            for (int i = 0; i < n; i++) sq += g[i] * g[i];
            double norm = Math.Sqrt(sq);
            double scale = 1;
            if (maxNorm is double max && max / (norm + 1e-6) < 1) scale = max / (norm + 1e-6);
            norms[s] = norm;
            scales[s] = scale;
            for (int i = 0; i < n; i++)
            {
                double gi = g[i] * scale;
                double lri = IsSsm[i] ? Math.Min(ssmLr, lr) : lr;
                double wdi = IsSsm[i] ? 0 : wd;
                p[i] -= lri * wdi * p[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mHat = m[i] / (1 - Math.Pow(b1, t));
                double vHat = v[i] / (1 - Math.Pow(b2, t));
                p[i] -= lri * mHat / (Math.Sqrt(vHat) + eps);
            }
        }
        return p;
    }

    [Fact]
    public void AdamW_TwoSteps_MatchHandArithmetic()
    {
        // lr 0.01, wd 0.1, ssm lr min(1e-3, 0.01) = 1e-3, no clipping. Element 0 (default) and 3 (ssm) by hand.
        var opt = new AdamW(TwoGroupLayout());
        float[] p = (float[])P0.Clone();

        AdamWStep s1 = opt.Step(p, G1, 0.01f);
        Assert.True(s1.Applied);
        Assert.Equal(1f, s1.Scale);
        Assert.Equal(Math.Sqrt(0.01 + 0.04 + 0.09 + 0.0025 + 0.16), s1.GradientNorm, 1e-6);
        // Step 1 of Adam: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε).
        double a1 = 0.5 * (1 - 0.01 * 0.1) - 0.01 * 0.1 / (0.1 + 1e-8);   // default: decayed, then the Adam step
        double b1 = 0.3 - 0.001 * 0.05 / (0.05 + 1e-8);                    // ssm: lr 1e-3, no decay
        Assert.Equal(a1, p[0], 1e-6);
        Assert.Equal(b1, p[3], 1e-6);
        Assert.Equal(1, opt.StepCount);

        AdamWStep s2 = opt.Step(p, G2, 0.01f);
        Assert.True(s2.Applied);
        // Step 2, element 0: g = −0.3.
        double m0 = 0.9 * (0.1 * 0.1) + 0.1 * -0.3;                        // −0.021
        double v0 = 0.999 * (0.001 * 0.01) + 0.001 * 0.09;                 // 9.999e-5
        double a2 = a1 * (1 - 0.01 * 0.1) - 0.01 * (m0 / (1 - 0.81)) / (Math.Sqrt(v0 / (1 - 0.999 * 0.999)) + 1e-8);
        // Step 2, element 3: g = 0.2.
        double m3 = 0.9 * (0.1 * 0.05) + 0.1 * 0.2;
        double v3 = 0.999 * (0.001 * 0.0025) + 0.001 * 0.04;
        double b2 = b1 - 0.001 * (m3 / (1 - 0.81)) / (Math.Sqrt(v3 / (1 - 0.999 * 0.999)) + 1e-8);
        Assert.Equal(a2, p[0], 1e-6);
        Assert.Equal(b2, p[3], 1e-6);
        Assert.Equal(2, opt.StepCount);
        Assert.Equal(0, opt.SkippedSteps);
    }

    [Theory]
    [InlineData(0.01, 0.1, 0.0)]     // no clipping
    [InlineData(0.01, 0.1, 0.25)]    // clipping active on both steps
    [InlineData(0.01, 0.0, 0.25)]    // no weight decay
    [InlineData(1e-4, 0.1, 0.25)]    // lr below the ssm cap: the ssm group uses lr itself
    [InlineData(0.01, 0.1, 10.0)]    // clipping configured but inactive
    [InlineData(0.003, 0.05, 0.5)]   // clipping active on step 1 only
    public void AdamW_TwoSteps_MatchFloat64Reference(double lr, double wd, double maxNorm)
    {
        double? clip = maxNorm > 0 ? maxNorm : null;
        var opt = new AdamW(TwoGroupLayout(), new AdamWOptions { WeightDecay = (float)wd, MaxGradientNorm = (float?)clip });
        float[] p = (float[])P0.Clone();
        float[] g1 = (float[])G1.Clone(), g2 = (float[])G2.Clone();

        double[] expected = ReferenceAdamW(P0, [G1, G2], (float)lr, (float)wd, 1e-3, clip, out double[] norms, out double[] scales);
        AdamWStep s1 = opt.Step(p, g1, (float)lr);
        AdamWStep s2 = opt.Step(p, g2, (float)lr);

        for (int i = 0; i < p.Length; i++) Assert.Equal(expected[i], p[i], 2e-6);
        Assert.Equal(norms[0], s1.GradientNorm, 1e-6);
        Assert.Equal(norms[1], s2.GradientNorm, 1e-6);
        Assert.Equal(scales[0], s1.Scale, 1e-6);
        Assert.Equal(scales[1], s2.Scale, 1e-6);
        if (clip is null || clip > 1) Assert.Equal(1f, s1.Scale);
        // The caller's gradients are never modified, even when clipped.
        Assert.Equal(G1, g1);
        Assert.Equal(G2, g2);
    }

    [Fact]
    public void AdamW_ZeroGradient_OnlyDecaysTheDefaultGroup()
    {
        var opt = new AdamW(TwoGroupLayout());
        float[] p = (float[])P0.Clone();
        opt.Step(p, new float[5], 0.02f);
        for (int i = 0; i < 3; i++) Assert.Equal(P0[i] * (1 - 0.02 * 0.1), p[i], 1e-7);
        Assert.Equal(P0[3], p[3]);
        Assert.Equal(P0[4], p[4]);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void AdamW_NonFiniteGradient_SkipsAndCounts(float bad)
    {
        var opt = new AdamW(TwoGroupLayout(), new AdamWOptions { MaxGradientNorm = 1f });
        var twin = new AdamW(TwoGroupLayout(), new AdamWOptions { MaxGradientNorm = 1f });
        float[] p = (float[])P0.Clone();
        float[] q = (float[])P0.Clone();
        opt.Step(p, G1, 0.01f);
        twin.Step(q, G1, 0.01f);

        float[] pBefore = (float[])p.Clone();
        float[] mBefore = opt.FirstMoments.ToArray();
        float[] vBefore = opt.SecondMoments.ToArray();
        float[] bad1 = (float[])G2.Clone();
        bad1[3] = bad;
        AdamWStep skipped = opt.Step(p, bad1, 0.01f);

        Assert.False(skipped.Applied);
        Assert.False(float.IsFinite(skipped.GradientNorm));
        Assert.Equal(Bits(pBefore), Bits(p));
        Assert.Equal(Bits(mBefore), Bits(opt.FirstMoments));
        Assert.Equal(Bits(vBefore), Bits(opt.SecondMoments));
        Assert.Equal(1, opt.StepCount);
        Assert.Equal(1, opt.SkippedSteps);

        // The next good step is exactly what it would have been without the bad one.
        Assert.True(opt.Step(p, G2, 0.01f).Applied);
        twin.Step(q, G2, 0.01f);
        Assert.Equal(Bits(q), Bits(p));
        Assert.Equal(2, opt.StepCount);
        Assert.Equal(1, opt.SkippedSteps);
    }

    [Fact]
    public void AdamW_HugeFiniteGradient_IsNotSkipped()
    {
        // Squares overflow float32, the norm (≈ 2.2e20) does not: the step must be applied (and clipped).
        var opt = new AdamW(TwoGroupLayout(), new AdamWOptions { MaxGradientNorm = 1f });
        float[] p = (float[])P0.Clone();
        float[] g = [1e20f, -1e20f, 1e20f, 1e20f, -1e20f];
        AdamWStep s = opt.Step(p, g, 0.01f);
        Assert.True(s.Applied);
        Assert.Equal(Math.Sqrt(5) * 1e20, s.GradientNorm, 1e14);
        Assert.True(s.Scale < 1e-19f);
        Assert.All(p, x => Assert.True(float.IsFinite(x)));
        Assert.Equal(0.5 * (1 - 0.001) - 0.01, p[0], 1e-6);   // step 1 moves by lr·sign(g)
    }

    [Fact]
    public void AdamW_Step_DoesNotAllocate()
    {
        // Several chunks per group (the chunk is 4096 floats), clipping active.
        H3Tensor[] layout =
        [
            new H3Tensor("w", [100, 100], 0, H3Tensor.DefaultGroup),
            new H3Tensor("s", [5000], 10_000, H3Tensor.SsmGroup),
            new H3Tensor("b", [7], 15_000, H3Tensor.DefaultGroup),
        ];
        var opt = new AdamW(layout, new AdamWOptions { MaxGradientNorm = 0.1f });
        var p = new float[15_007];
        var g = new float[15_007];
        H3Init.Normal(p, 1, 1, 0);
        H3Init.Normal(g, 1, 2, 0);
        for (int i = 0; i < 3; i++) opt.Step(p, g, 1e-3f);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) opt.Step(p, g, 1e-3f);
        g[5] = float.NaN;
        opt.Step(p, g, 1e-3f);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
        Assert.Equal(53, opt.StepCount);
        Assert.Equal(1, opt.SkippedSteps);
    }

    [Fact]
    public void AdamW_LengthMismatch_NamesArgumentAndLengths()
    {
        var opt = new AdamW(TwoGroupLayout());
        var e1 = Assert.Throws<ArgumentException>(() => opt.Step(new float[4], new float[5], 0.01f));
        Assert.Equal("parameters", e1.ParamName);
        Assert.Contains("5", e1.Message);
        Assert.Contains("4", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => opt.Step(new float[5], new float[6], 0.01f));
        Assert.Equal("gradients", e2.ParamName);
        Assert.Contains("5", e2.Message);
        Assert.Contains("6", e2.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => opt.Step(new float[5], new float[5], -1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => opt.Step(new float[5], new float[5], float.NaN));
    }

    [Fact]
    public void AdamW_RejectsBadLayoutsAndOptions()
    {
        Assert.Throws<ArgumentException>(() => new AdamW(ReadOnlySpan<H3Tensor>.Empty));
        Assert.Throws<ArgumentException>(() => new AdamW(new[] { new H3Tensor("a", [3], 1, H3Tensor.DefaultGroup) }));   // gap
        Assert.Throws<ArgumentException>(() => new AdamW(new[]
        {
            new H3Tensor("a", [3], 0, H3Tensor.DefaultGroup),
            new H3Tensor("b", [3], 2, H3Tensor.DefaultGroup),   // overlap
        }));
        Assert.Throws<ArgumentException>(() => new AdamW(new[] { new H3Tensor("a", [3], 0, "other") }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(TwoGroupLayout(), new AdamWOptions { Beta1 = 1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(TwoGroupLayout(), new AdamWOptions { Beta2 = -0.1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(TwoGroupLayout(), new AdamWOptions { WeightDecay = -1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(TwoGroupLayout(), new AdamWOptions { MaxGradientNorm = 0f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(TwoGroupLayout(), new AdamWOptions { Epsilon = float.NaN }));

        // Tensors in any order are fine as long as they tile [0, total).
        var reversed = TwoGroupLayout().Reverse().ToArray();
        var a = new AdamW(reversed);
        var b = new AdamW(TwoGroupLayout());
        float[] p = (float[])P0.Clone(), q = (float[])P0.Clone();
        a.Step(p, G1, 0.01f);
        b.Step(q, G1, 0.01f);
        Assert.Equal(Bits(q), Bits(p));
        Assert.Equal(5, a.ParameterCount);
    }

    [Fact]
    public void AdamW_Reset_StartsOver()
    {
        var opt = new AdamW(TwoGroupLayout());
        float[] p = (float[])P0.Clone();
        opt.Step(p, G1, 0.01f);
        opt.Step(p, [float.NaN, 0, 0, 0, 0], 0.01f);
        opt.Reset();
        Assert.Equal(0, opt.StepCount);
        Assert.Equal(0, opt.SkippedSteps);
        Assert.All(opt.FirstMoments.ToArray(), x => Assert.Equal(0f, x));
        Assert.All(opt.SecondMoments.ToArray(), x => Assert.Equal(0f, x));

        float[] q = (float[])p.Clone();
        opt.Step(p, G2, 0.01f);
        new AdamW(TwoGroupLayout()).Step(q, G2, 0.01f);
        Assert.Equal(Bits(q), Bits(p));
    }

    [Fact]
    public void AdamW_OnAModel_HonoursTheSsmGroup()
    {
        IH3Model model = new SmallModel(seed: 3);
        var opt = new AdamW(model);
        Assert.Equal(model.Parameters.Length, opt.ParameterCount);
        float[] before = model.Parameters.ToArray();
        model.Gradients.Fill(1f);
        Assert.True(opt.Step(model, 0.01f).Applied);
        Assert.Equal(1f, model.Gradients[0]);

        foreach (H3Tensor t in model.Tensors)
        {
            bool ssm = t.Group == H3Tensor.SsmGroup;
            double lr = ssm ? 1e-3 : 0.01;
            double keep = ssm ? 1 : 1 - 0.01 * 0.1;
            for (int i = t.Offset; i < t.Offset + t.Length; i++)
            {
                Assert.Equal(before[i] * keep - lr * 1 / (1 + 1e-8), model.Parameters[i], 1e-5);
            }
        }
        Assert.Contains(model.Tensors.ToArray(), t => t.Group == H3Tensor.SsmGroup);
    }

    // ---------------------------------------------------------------------------------------------------
    // Losses

    /// <summary>Mean softmax cross-entropy in float64, straight from the definition.</summary>
    private static double ReferenceCrossEntropy(double[] logits, int classes, int[] targets)
    {
        double total = 0;
        int count = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] < 0) continue;
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.Exp(logits[r * classes + c]);
            total += -Math.Log(Math.Exp(logits[r * classes + targets[r]]) / sum);
            count++;
        }
        return count == 0 ? 0 : total / count;
    }

    [Fact]
    public void CrossEntropy_Value_MatchesHandComputation()
    {
        // Row 0: logits (1, 2, 3), target 2: −log(e³/(e + e² + e³)) = log(1 + e⁻¹ + e⁻²).
        // Row 1: logits (0, 0, 0), target 0: log 3.
        // Row 2: ignored.
        float[] logits = [1, 2, 3, 0, 0, 0, 5, -5, 7];
        int[] targets = [2, 0, -1];
        double expected = (Math.Log(1 + Math.Exp(-1) + Math.Exp(-2)) + Math.Log(3)) / 2;
        var grad = new float[9];
        grad.AsSpan().Fill(123f);
        float loss = Losses.SoftmaxCrossEntropy(logits, 3, targets, grad);
        Assert.Equal(expected, loss, 1e-6);
        Assert.Equal(expected, Losses.SoftmaxCrossEntropy(logits, 3, targets, default), 1e-6);

        // Gradient = (softmax − onehot)/2 on counted rows, 0 on the ignored row.
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal(Math.Exp(1) / z / 2, grad[0], 1e-7);
        Assert.Equal(Math.Exp(2) / z / 2, grad[1], 1e-7);
        Assert.Equal((Math.Exp(3) / z - 1) / 2, grad[2], 1e-7);
        Assert.Equal((1.0 / 3 - 1) / 2, grad[3], 1e-7);
        Assert.Equal(1.0 / 3 / 2, grad[4], 1e-7);
        Assert.Equal(new float[3], grad[6..9]);

        // Stable with huge logits (naive exp overflows).
        float big = Losses.SoftmaxCrossEntropy([1000f, 1001f, 1002f], 3, [2], default);
        Assert.Equal(Math.Log(1 + Math.Exp(-1) + Math.Exp(-2)), big, 1e-5);
    }

    [Fact]
    public void CrossEntropy_Gradient_MatchesCentralDifferences()
    {
        const int rows = 6, classes = 37;   // 37: a vector body and a tail
        var rng = new H3Random(11);
        var logits = new float[rows * classes];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(3 * rng.NextGaussian());
        int[] targets = [4, -1, 36, 0, -7, 17];
        var grad = new float[logits.Length];
        float loss = Losses.SoftmaxCrossEntropy(logits, classes, targets, grad);

        double[] x = logits.Select(v => (double)v).ToArray();
        Assert.Equal(ReferenceCrossEntropy(x, classes, targets), loss, 1e-5);
        const double h = 1e-5;
        for (int i = 0; i < x.Length; i++)
        {
            double keep = x[i];
            x[i] = keep + h;
            double plus = ReferenceCrossEntropy(x, classes, targets);
            x[i] = keep - h;
            double minus = ReferenceCrossEntropy(x, classes, targets);
            x[i] = keep;
            Assert.Equal((plus - minus) / (2 * h), grad[i], 1e-6);
        }
        // Ignored rows have zero gradient; the gradient of each counted row sums to 0.
        Assert.All(grad.AsSpan(classes, classes).ToArray(), g => Assert.Equal(0f, g));
        Assert.All(grad.AsSpan(4 * classes, classes).ToArray(), g => Assert.Equal(0f, g));
        Assert.Equal(0, grad.AsSpan(0, classes).ToArray().Sum(), 1e-6);
    }

    [Fact]
    public void CrossEntropy_AllIgnored_IsZero()
    {
        var grad = new float[6];
        grad.AsSpan().Fill(9f);
        Assert.Equal(0f, Losses.SoftmaxCrossEntropy([1, 2, 3, 4, 5, 6], 3, [-1, -100], grad));
        Assert.All(grad, g => Assert.Equal(0f, g));
        Assert.Equal(0, Losses.CountCorrect([1, 2, 3, 4, 5, 6], 3, [-1, -1]));
        Assert.Equal(0f, Losses.SoftmaxCrossEntropy(ReadOnlySpan<float>.Empty, 3, ReadOnlySpan<int>.Empty, default));
    }

    [Fact]
    public void CrossEntropy_InPlaceGradient_MatchesSeparate()
    {
        float[] logits = [0.3f, -1.2f, 2.5f, 0.1f, 0.7f, 0.7f, -0.2f, 1.9f];
        int[] targets = [1, 3];
        var separate = new float[8];
        float a = Losses.SoftmaxCrossEntropy(logits, 4, targets, separate);
        float[] inPlace = (float[])logits.Clone();
        float b = Losses.SoftmaxCrossEntropy(inPlace, 4, targets, inPlace);
        Assert.Equal(a, b);
        Assert.Equal(Bits(separate), Bits(inPlace));
        Assert.Throws<ArgumentException>(() => Losses.SoftmaxCrossEntropy(logits.AsSpan(0, 4), 4, [1], logits.AsSpan(1, 4)));
    }

    [Fact]
    public void CountCorrect_CountsArgMaxHits()
    {
        float[] logits =
        [
            0.1f, 0.9f, 0.0f,   // argmax 1
            2.0f, 1.0f, 3.0f,   // argmax 2
            5.0f, 5.0f, 1.0f,   // tie: first (0)
            0.0f, 0.0f, 9.0f,   // ignored
        ];
        Assert.Equal(3, Losses.CountCorrect(logits, 3, [1, 2, 0, -1]));
        Assert.Equal(1, Losses.CountCorrect(logits, 3, [1, 0, 1, -1]));
        Assert.Equal(2, Losses.CountCorrect(logits, 3, [1, 0, 1, 2]));
    }

    [Fact]
    public void Losses_CheckArguments()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.SoftmaxCrossEntropy(new float[5], 3, [0, 1], default));
        Assert.Equal("logits", e.ParamName);
        Assert.Contains("6", e.Message);
        Assert.Contains("5", e.Message);
        e = Assert.Throws<ArgumentException>(() => Losses.SoftmaxCrossEntropy(new float[6], 3, [0, 1], new float[5]));
        Assert.Equal("gradient", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.SoftmaxCrossEntropy(new float[6], 3, [0, 3], default));
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.SoftmaxCrossEntropy(new float[6], 0, [0, 1], default));
        e = Assert.Throws<ArgumentException>(() => Losses.CountCorrect(new float[7], 3, [0, 1]));
        Assert.Equal("logits", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Losses.MeanSquaredError(new float[3], new float[4], default));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("3", e.Message);
        Assert.Contains("4", e.Message);
        e = Assert.Throws<ArgumentException>(() => Losses.MeanSquaredError(new float[3], new float[3], new float[2]));
        Assert.Equal("gradient", e.ParamName);
    }

    [Fact]
    public void MeanSquaredError_ValueAndGradient()
    {
        float[] p = [1f, 2f, -3f, 0.5f, 4f];
        float[] t = [0f, 2.5f, -1f, 0.5f, 1f];
        // Differences 1, −0.5, −2, 0, 3: squares 1 + 0.25 + 4 + 0 + 9 = 14.25, mean 2.85.
        var grad = new float[5];
        Assert.Equal(2.85, Losses.MeanSquaredError(p, t, grad), 1e-6);
        Assert.Equal(2.85, Losses.MeanSquaredError(p, t, default), 1e-6);
        double[] expected = [2 * 1 / 5.0, 2 * -0.5 / 5, 2 * -2 / 5.0, 0, 2 * 3 / 5.0];
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i], grad[i], 1e-6);

        // Central differences in float64 of the definition.
        const double h = 1e-4;
        for (int i = 0; i < 5; i++)
        {
            double Loss(double delta) => Enumerable.Range(0, 5).Select(j => Math.Pow(p[j] + (j == i ? delta : 0) - t[j], 2)).Average();
            Assert.Equal((Loss(h) - Loss(-h)) / (2 * h), grad[i], 1e-5);
        }
        Assert.Equal(0f, Losses.MeanSquaredError(ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, default));
    }

    [Fact]
    public void Losses_DoNotAllocate()
    {
        var logits = new float[64 * 300];
        H3Init.Normal(logits, 1, 5, 0);
        var targets = new int[64];
        for (int i = 0; i < targets.Length; i++) targets[i] = i % 7 == 0 ? -1 : (i * 37) % 300;
        var grad = new float[logits.Length];
        var y = new float[logits.Length];
        Losses.SoftmaxCrossEntropy(logits, 300, targets, grad);
        Losses.SoftmaxCrossEntropy(logits, 300, targets, default);
        Losses.CountCorrect(logits, 300, targets);
        Losses.MeanSquaredError(logits, y, grad);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++)
        {
            Losses.SoftmaxCrossEntropy(logits, 300, targets, grad);
            Losses.SoftmaxCrossEntropy(logits, 300, targets, default);
            Losses.CountCorrect(logits, 300, targets);
            Losses.MeanSquaredError(logits, y, grad);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // ---------------------------------------------------------------------------------------------------
    // Linear

    private static double[] NaiveForward(double[] w, double[] b, double[] x, int rows, int inputs, int outputs)
    {
        var y = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outputs; o++)
            {
                double s = b[o];
                for (int i = 0; i < inputs; i++) s += x[r * inputs + i] * w[o * inputs + i];
                y[r * outputs + o] = s;
            }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 5)]
    [InlineData(4, 33, 10)]
    [InlineData(2, 64, 17)]
    public void Linear_Forward_MatchesNaiveLoops(int rows, int inputs, int outputs)
    {
        var head = new Linear(inputs, outputs, seed: 4);
        H3Init.Normal(head.Bias, 0.5, 9, 1);   // nonzero bias
        var x = new float[rows * inputs];
        H3Init.Normal(x, 1, 6, 0);
        var y = new float[rows * outputs];
        head.Forward(x, y, rows);

        double[] expected = NaiveForward(
            head.Weight.ToArray().Select(v => (double)v).ToArray(), head.Bias.ToArray().Select(v => (double)v).ToArray(),
            x.Select(v => (double)v).ToArray(), rows, inputs, outputs);
        for (int i = 0; i < y.Length; i++) Assert.Equal(expected[i], y[i], 1e-5);
    }

    [Fact]
    public void Linear_Layout_AndInit()
    {
        var head = new Linear(5, 3, seed: 7);
        Assert.Equal(5, head.Inputs);
        Assert.Equal(3, head.Outputs);
        Assert.Equal(18, head.Parameters.Length);
        Assert.Equal(18, head.Gradients.Length);
        Assert.Equal(2, head.Tensors.Length);
        Assert.Equal("weight", head.Tensors[0].Name);
        Assert.Equal(new[] { 3, 5 }, head.Tensors[0].Shape);
        Assert.Equal(0, head.Tensors[0].Offset);
        Assert.Equal(H3Tensor.DefaultGroup, head.Tensors[0].Group);
        Assert.Equal("bias", head.Tensors[1].Name);
        Assert.Equal(new[] { 3 }, head.Tensors[1].Shape);
        Assert.Equal(15, head.Tensors[1].Offset);

        var expected = new float[15];
        H3Init.Normal(expected, 0.02, 7, 0);
        Assert.Equal(Bits(expected), Bits(head.Parameters[..15]));
        Assert.All(head.Parameters[15..].ToArray(), b => Assert.Equal(0f, b));
        Assert.NotEqual(Bits(head.Parameters), Bits(new Linear(5, 3, seed: 8).Parameters));
    }

    [Theory]
    [InlineData(3, 7, 5)]
    [InlineData(2, 33, 10)]
    public void Linear_Backward_MatchesCentralDifferences(int rows, int inputs, int outputs)
    {
        // Loss = Σ R⊙y + ½Σ y², so dy = R + y.
        var head = new Linear(inputs, outputs, seed: 1);
        H3Init.Normal(head.Parameters, 0.5, 2, 0);
        var x = new float[rows * inputs];
        H3Init.Normal(x, 1, 3, 0);
        var rw = new float[rows * outputs];
        H3Init.Normal(rw, 1, 4, 0);

        var y = new float[rows * outputs];
        head.Forward(x, y, rows);
        var dy = new float[y.Length];
        for (int i = 0; i < dy.Length; i++) dy[i] = rw[i] + y[i];
        head.ZeroGradients();
        var dx = new float[x.Length];
        dx.AsSpan().Fill(42f);   // overwritten, not accumulated
        head.Backward(x, dy, dx, rows);

        double[] w = head.Weight.ToArray().Select(v => (double)v).ToArray();
        double[] b = head.Bias.ToArray().Select(v => (double)v).ToArray();
        double[] xd = x.Select(v => (double)v).ToArray();
        double Loss()
        {
            double[] yy = NaiveForward(w, b, xd, rows, inputs, outputs);
            double s = 0;
            for (int i = 0; i < yy.Length; i++) s += rw[i] * yy[i] + 0.5 * yy[i] * yy[i];
            return s;
        }
        double Central(double[] arr, int i)
        {
            const double h = 1e-5;
            double keep = arr[i];
            arr[i] = keep + h;
            double plus = Loss();
            arr[i] = keep - h;
            double minus = Loss();
            arr[i] = keep;
            return (plus - minus) / (2 * h);
        }

        for (int i = 0; i < w.Length; i++) Assert.Equal(Central(w, i), head.Gradients[i], 2e-4);
        for (int o = 0; o < outputs; o++) Assert.Equal(Central(b, o), head.Gradients[w.Length + o], 2e-4);
        for (int i = 0; i < xd.Length; i++) Assert.Equal(Central(xd, i), dx[i], 2e-4);

        // Backward accumulates into Gradients; an empty inputGradient skips dx.
        float[] once = head.Gradients.ToArray();
        head.Backward(x, dy, default, rows);
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], head.Gradients[i], 1e-5);
        head.ZeroGradients();
        Assert.All(head.Gradients.ToArray(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Linear_CheckArguments()
    {
        var head = new Linear(4, 3);
        var e = Assert.Throws<ArgumentException>(() => head.Forward(new float[7], new float[6], 2));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("8", e.Message);
        Assert.Contains("7", e.Message);
        e = Assert.Throws<ArgumentException>(() => head.Forward(new float[8], new float[5], 2));
        Assert.Equal("output", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => head.Backward(new float[8], new float[5], default, 2));
        Assert.Equal("outputGradient", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => head.Backward(new float[8], new float[6], new float[7], 2));
        Assert.Equal("inputGradient", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Forward(new float[0], new float[0], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Linear(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Linear(3, -1));
        var shared = new float[8];
        Assert.Throws<ArgumentException>(() => head.Backward(shared, new float[6], shared, 2));
    }

    [Fact]
    public void Linear_DoesNotAllocate()
    {
        var head = new Linear(33, 10);
        var x = new float[16 * 33];
        var y = new float[16 * 10];
        var dx = new float[x.Length];
        head.Forward(x, y, 16);
        head.Backward(x, y, dx, 16);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            head.Forward(x, y, 16);
            head.Backward(x, y, dx, 16);
            head.Backward(x, y, default, 16);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Linear_SaveLoad_RoundTrips()
    {
        string dir = Path.Combine(Path.GetTempPath(), "h3-linear-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "head.safetensors");
            var a = new Linear(6, 4, seed: 1);
            H3Init.Normal(a.Bias, 1, 3, 0);
            a.SaveWeights(path);
            var b = new Linear(6, 4, seed: 2);
            b.LoadWeights(path);
            Assert.Equal(Bits(a.Parameters), Bits(b.Parameters));

            var wrong = new Linear(4, 6);
            float[] keep = wrong.Parameters.ToArray();
            Assert.Throws<H3FormatException>(() => wrong.LoadWeights(path));
            Assert.Equal(Bits(keep), Bits(wrong.Parameters));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Linear_TrainsWithAdamW()
    {
        // A separable 3-class problem: a few hundred steps of AdamW + cross-entropy must fit it.
        const int rows = 30, inputs = 4, classes = 3;
        var rng = new H3Random(21);
        var x = new float[rows * inputs];
        var targets = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            targets[r] = r % classes;
            for (int i = 0; i < inputs; i++) x[r * inputs + i] = (float)(0.3 * rng.NextGaussian() + (i == targets[r] ? 2 : 0));
        }
        var head = new Linear(inputs, classes, seed: 5);
        var opt = new AdamW(head.Tensors, new AdamWOptions { WeightDecay = 0.01f, MaxGradientNorm = 1f });
        var logits = new float[rows * classes];
        var grad = new float[logits.Length];
        float first = 0, last = 0;
        for (int step = 0; step < 300; step++)
        {
            head.ZeroGradients();
            head.Forward(x, logits, rows);
            last = Losses.SoftmaxCrossEntropy(logits, classes, targets, grad);
            if (step == 0) first = last;
            head.Backward(x, grad, default, rows);
            Assert.True(opt.Step(head.Parameters, head.Gradients, 0.05f).Applied);
        }
        head.Forward(x, logits, rows);
        Assert.True(last < first / 10, $"loss {first} → {last}");
        Assert.Equal(rows, Losses.CountCorrect(logits, classes, targets));
    }

    // ---------------------------------------------------------------------------------------------------
    // Learning-rate schedules

    [Fact]
    public void Schedule_WarmupCosine_KeySteps()
    {
        var s = LearningRateSchedule.WarmupCosine(1e-3f, 10, 110, minimum: 1e-5f, warmupStart: 1e-4f);
        Assert.Equal(1e-4, s.At(0), 1e-9);
        Assert.Equal(1e-4 + (1e-3 - 1e-4) * 5 / 10, s.At(5), 1e-9);
        Assert.Equal(1e-3, s.At(10), 1e-9);
        Assert.Equal(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.At(35), 1e-9);
        Assert.Equal((1e-3 + 1e-5) / 2, s.At(60), 1e-9);   // half way: the mean of peak and minimum
        Assert.Equal(1e-5, s.At(110), 1e-9);
        Assert.Equal(1e-5, s.At(1_000_000), 1e-9);
        for (int i = 11; i <= 110; i++) Assert.True(s.At(i) <= s.At(i - 1));

        var plain = LearningRateSchedule.WarmupCosine(2f, 0, 4);
        Assert.Equal(2f, plain.At(0));
        Assert.Equal(1.0, plain.At(2), 1e-6);
        Assert.Equal(0f, plain.At(4));
    }

    [Fact]
    public void Schedule_WarmupLinear_KeySteps()
    {
        var s = LearningRateSchedule.WarmupLinear(0.5f, 4, 14);
        Assert.Equal(0f, s.At(0));
        Assert.Equal(0.125, s.At(1), 1e-7);
        Assert.Equal(0.5, s.At(4), 1e-7);
        Assert.Equal(0.25, s.At(9), 1e-7);
        Assert.Equal(0.05, s.At(13), 1e-7);
        Assert.Equal(0f, s.At(14));
        Assert.Equal(0f, s.At(100));

        var from = LearningRateSchedule.WarmupLinear(1f, 2, 4, warmupStart: 0.5f);
        Assert.Equal(0.5f, from.At(0));
        Assert.Equal(0.75f, from.At(1));
        Assert.Equal(1f, from.At(2));
        Assert.Equal(0.5f, from.At(3));
    }

    [Fact]
    public void Schedule_Constant_AndValidation()
    {
        var c = LearningRateSchedule.Constant(3e-4f);
        Assert.Equal(3e-4f, c.At(0));
        Assert.Equal(3e-4f, c.At(int.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => c.At(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Constant(-1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Constant(float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(1f, 5, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(1f, -1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(1f, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(1f, 1, 4, minimum: 2f));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupCosine(float.PositiveInfinity, 1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupLinear(1f, 1, 4, warmupStart: -0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.WarmupLinear(1f, 1, -4));
    }

    // ---------------------------------------------------------------------------------------------------

    private static uint[] Bits(ReadOnlySpan<float> values)
    {
        var bits = new uint[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToUInt32Bits(values[i]);
        return bits;
    }
}
