using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using System.Text.Json;
using Xunit.Abstractions;

namespace H3.Tests;

/// <summary>
/// Checks the float64 reference (H3Reference) against the independent libtorch vectors in
/// TestData/small, against itself (convolution vs recurrence) and against central finite differences.
/// </summary>
public sealed class ReferenceTests
{
    private readonly ITestOutputHelper _out;

    public ReferenceTests(ITestOutputHelper output) => _out = output;

    // ---------------------------------------------------------------------------------------
    // The small independent vectors, loaded once.
    // ---------------------------------------------------------------------------------------

    private sealed class Small
    {
        public required H3Config Config { get; init; }
        public required int Batch { get; init; }
        public required Dictionary<string, (int[] Shape, float[] Data)> Weights { get; init; }
        public required Dictionary<string, (int[] Shape, float[] Data)> Io { get; init; }
        public required Dictionary<string, (int[] Shape, float[] Data)> Grads { get; init; }
        public required Dictionary<string, double[]> W { get; init; }
        public required double[] Input { get; init; }
        public required double[] R { get; init; }
        public required double[] Output { get; init; }
        public required Dictionary<string, double[]> Activations { get; init; }
    }

    private static readonly Lazy<Small> s_small = new(LoadSmall);

    private static Small LoadSmall()
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(TestData.Path("small/config.json")));
        var cfg = doc.RootElement.GetProperty("config");
        int Get(string n) => cfg.GetProperty(n).GetInt32();
        var c = new H3Config(Get("EmbedDim"), Get("Hidden"), Get("State"), Get("ConvSize"), Get("Layers"), Get("WindowSize"));
        int batch = Get("batch");
        var weights = TestData.ReadSafetensors(TestData.Path("small/weights.safetensors"));
        var io = TestData.ReadSafetensors(TestData.Path("small/io.safetensors"));
        var grads = TestData.ReadSafetensors(TestData.Path("small/grads.safetensors"));
        var w = weights.ToDictionary(kv => kv.Key, kv => TestData.ToDouble(kv.Value.Data));
        var input = TestData.ToDouble(io["input"].Data);
        var acts = new Dictionary<string, double[]>();
        var output = H3Reference.Forward(c, w, input, batch, acts);
        return new Small
        {
            Config = c, Batch = batch, Weights = weights, Io = io, Grads = grads, W = w, Input = input,
            R = TestData.ToDouble(io["R"].Data), Output = output, Activations = acts,
        };
    }

    /// <summary>max |a - b| / max(max |b|, tiny): the error relative to the tensor's scale.</summary>
    private static double ScaledMaxDiff(double[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxAbs = 0, maxDiff = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxAbs = Math.Max(maxAbs, Math.Abs((double)expected[i]));
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
        }
        return maxDiff / Math.Max(maxAbs, 1e-300);
    }

    private static string F(double v) => v.ToString("E2", CultureInfo.InvariantCulture);

    public static TheoryData<string> ActivationNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in s_small.Value.Io.Keys.Where(k => k.StartsWith("act.", StringComparison.Ordinal)))
        {
            data.Add(name);
        }
        return data;
    }

    // ---------------------------------------------------------------------------------------
    // Layout and parameter count
    // ---------------------------------------------------------------------------------------

    [Theory]
    [InlineData(7, 8, 4, 3, 2, 12, 2256L)]
    [InlineData(287, 256, 64, 4, 4, 60, 3_569_152L)]
    [InlineData(8, 8, 4, 3, 2, 12, -1L)]   // E == H: no input_proj
    [InlineData(5, 3, 2, 0, 1, 1, -1L)]    // K = 0: no conv
    [InlineData(1, 1, 2, 1, 3, 7, -1L)]
    [InlineData(33, 17, 64, 5, 2, 7, -1L)] // T < N
    public void ParameterCount_LayoutEqualsFormula(int e, int h, int n, int k, int l, int t, long expected)
    {
        var c = new H3Config(e, h, n, k, l, t);
        long formula = H3Config.ParameterCountFormula(c);
        Assert.Equal(formula, c.ParameterCount);
        if (expected >= 0)
        {
            Assert.Equal(expected, formula);
        }
        var layout = c.Layout();
        Assert.Equal(layout.Count, layout.Select(p => p.Name).Distinct().Count());
        Assert.Equal(e != h, layout.Any(p => p.Name == "input_proj.weight"));
        Assert.Equal(k > 0, layout.Any(p => p.Name.EndsWith("mixer.conv.weight", StringComparison.Ordinal)));
        Assert.Equal(5 * l, layout.Count(p => p.Group == "ssm"));
        Assert.All(layout.Where(p => p.Group == "ssm"), p => Assert.Matches(
            @"^layers\.\d+\.mixer\.(shift\.B|diag\.log_dt|diag\.inv_A_real|diag\.A_imag|diag\.B)$", p.Name));
        Assert.All(layout, p => Assert.True(p.Group is "ssm" or "default"));
    }

    [Fact]
    public void Layout_MatchesWeightsFileNamesShapesAndOrder()
    {
        var s = s_small.Value;
        var layout = s.Config.Layout();
        Assert.Equal(layout.Select(p => p.Name), s.Weights.Keys);
        foreach (var (name, shape, _) in layout)
        {
            Assert.Equal(shape, s.Weights[name].Shape);
        }
        Assert.Equal(2256, s.Weights.Values.Sum(v => v.Data.Length));
    }

    [Fact]
    public void FromFlat_ToFlat_RoundTrip()
    {
        var s = s_small.Value;
        float[] flat = s.Config.Layout().SelectMany(p => s.Weights[p.Name].Data).ToArray();
        var w = H3Reference.FromFlat(s.Config, flat);
        Assert.Equal(s.Weights.Keys, w.Keys);
        foreach (var (name, t) in s.Weights)
        {
            Assert.Equal(TestData.ToDouble(t.Data), w[name]);
        }
        Assert.Equal(TestData.ToDouble(flat), H3Reference.ToFlat(s.Config, w));
        Assert.Throws<ArgumentException>(() => H3Reference.FromFlat(s.Config, flat.AsSpan(1)));
    }

    // ---------------------------------------------------------------------------------------
    // Against the independent vectors
    // ---------------------------------------------------------------------------------------

    [Fact]
    public void Activations_NamesMatchIndependentFile()
    {
        var s = s_small.Value;
        var expected = s.Io.Keys.Where(k => k.StartsWith("act.", StringComparison.Ordinal)).Select(k => k[4..]).Order(StringComparer.Ordinal);
        Assert.Equal(expected, s.Activations.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(ActivationNames))]
    public void Activation_MatchesIndependentVectors(string actName)
    {
        var s = s_small.Value;
        var (shape, data) = s.Io[actName];
        double[] mine = s.Activations[actName[4..]];
        Assert.Equal(H3Config.Elements(shape), mine.Length);
        double d = ScaledMaxDiff(mine, data);
        _out.WriteLine($"{actName} {string.Join('x', shape)}: max|diff|/max|ref| = {F(d)}");
        Assert.True(d <= 1e-5, $"{actName}: scaled max diff {F(d)}");
    }

    [Fact]
    public void Output_And_Loss_MatchIndependentVectors()
    {
        var s = s_small.Value;
        double d = ScaledMaxDiff(s.Output, s.Io["output"].Data);
        _out.WriteLine($"output: max|diff|/max|ref| = {F(d)}");
        Assert.True(d <= 1e-5, $"output: scaled max diff {F(d)}");

        // The output is the last timestep of final_norm.
        var c = s.Config;
        double[] all = s.Activations["final_norm"];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int h = 0; h < c.H; h++)
            {
                Assert.Equal(all[(b * c.T + c.T - 1) * c.H + h], s.Output[b * c.H + h]);
            }
        }

        double loss = H3Reference.Loss(s.Output, s.R);
        double expected = s.Io["loss"].Data[0];
        double rel = Math.Abs(loss - expected) / Math.Abs(expected);
        _out.WriteLine($"loss: mine {loss:R}, independent {expected:R}, relative diff {F(rel)}");
        Assert.True(rel <= 1e-5, $"loss relative diff {F(rel)}");
    }

    [Fact]
    public void Recurrent_ModelMatchesIndependentOutput()
    {
        var s = s_small.Value;
        double[] y = H3Reference.Forward(s.Config, s.W, s.Input, s.Batch, recurrent: true);
        double d = ScaledMaxDiff(y, s.Io["output"].Data);
        _out.WriteLine($"output (recurrent SSMs): max|diff|/max|ref| = {F(d)}");
        Assert.True(d <= 1e-5);
    }

    public static TheoryData<string> FiniteDifferenceTensors() => new()
    {
        "input",
        "input_proj.weight",
        "layers.0.norm1.weight",
        "layers.0.mixer.q_proj.bias",
        "layers.0.mixer.k_proj.weight",
        "layers.0.mixer.shift.B",
        "layers.0.mixer.shift.C",
        "layers.0.mixer.shift.D",
        "layers.0.mixer.diag.log_dt",
        "layers.0.mixer.diag.inv_A_real",
        "layers.0.mixer.diag.A_imag",
        "layers.0.mixer.diag.B",
        "layers.0.mixer.diag.C",
        "layers.0.mixer.diag.D",
        "layers.1.mixer.conv.weight",
        "layers.1.mixer.conv.bias",
        "layers.1.mixer.out_proj.weight",
        "layers.1.norm2.bias",
        "layers.1.mlp.fc1.weight",
        "layers.1.mlp.fc2.weight",
        "final_norm.weight",
        "final_norm.bias",
    };

    /// <summary>
    /// Central differences (h = 1e-6, float64) of loss = Σ output ⊙ R for a few entries of a tensor
    /// (its two largest gradients and three random ones) against grads.safetensors.
    /// </summary>
    [Theory]
    [MemberData(nameof(FiniteDifferenceTensors))]
    public void FiniteDifference_MatchesIndependentGradients(string tensor)
    {
        var s = s_small.Value;
        const double Step = 1e-6;
        float[] grad = s.Grads["grad." + tensor].Data;
        var w = s.W.ToDictionary(kv => kv.Key, kv => (double[])kv.Value.Clone());
        double[] input = (double[])s.Input.Clone();
        double[] target = tensor == "input" ? input : w[tensor];
        Assert.Equal(grad.Length, target.Length);

        double gradScale = grad.Max(g => Math.Abs((double)g));
        var rng = new Random(tensor.Length * 7919 + tensor[^1]);
        var indices = Enumerable.Range(0, grad.Length).OrderByDescending(i => Math.Abs(grad[i])).Take(2)
            .Concat(Enumerable.Range(0, 3).Select(_ => rng.Next(grad.Length))).Distinct().ToArray();

        double Loss() => H3Reference.Loss(H3Reference.Forward(s.Config, w, input, s.Batch), s.R);
        double worst = 0;
        foreach (int i in indices)
        {
            double orig = target[i];
            target[i] = orig + Step;
            double plus = Loss();
            target[i] = orig - Step;
            double minus = Loss();
            target[i] = orig;
            double fd = (plus - minus) / (2 * Step);
            // Relative to the entry's own gradient, floored at 1 % of the tensor's largest gradient
            // and at 1e-4 (the loss is ~0.04): with h = 1e-6 the float64 rounding noise of the
            // loss (~1e-15) gives the central difference an absolute noise of ~1e-9, which an
            // exact zero or a gradient of ~1e-5 cannot carry as a 1e-4 relative error (measured:
            // such entries agree to ~1e-7 relative when h = 1e-4).
            double denom = Math.Max(Math.Max(Math.Abs((double)grad[i]), 1e-2 * gradScale), 1e-4);
            double rel = Math.Abs(fd - grad[i]) / denom;
            worst = Math.Max(worst, rel);
            _out.WriteLine($"{tensor}[{i}]: fd {fd:E6}, independent {grad[i]:E6}, rel {F(rel)}");
            Assert.True(rel <= 1e-4, $"{tensor}[{i}]: fd {fd:R} vs {grad[i]:R} (rel {F(rel)})");
        }
        _out.WriteLine($"{tensor}: worst relative error {F(worst)}");
    }

    // ---------------------------------------------------------------------------------------
    // Convolution form == recurrent form
    // ---------------------------------------------------------------------------------------

    private static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    private static double[] RandomArray(Random r, int n, double scale = 1) =>
        Enumerable.Range(0, n).Select(_ => scale * Normal(r)).ToArray();

    private static double ScaledMaxDiff(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double maxAbs = b.Max(Math.Abs);
        double maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        return maxDiff / Math.Max(maxAbs, 1e-300);
    }

    [Theory]
    [InlineData(60, 2)]
    [InlineData(60, 64)]
    [InlineData(7, 2)]
    [InlineData(7, 64)]
    public void ShiftSsm_ConvolutionEqualsRecurrence(int t, int n)
    {
        var c = new H3Config(5, 5, n, 0, 1, t);
        const int Batch = 2;
        var r = new Random(1000 + 10 * t + n);
        double[] b = RandomArray(r, c.H * n), cc = RandomArray(r, c.H * n), d = RandomArray(r, c.H);
        double[] k = RandomArray(r, Batch * t * c.H);
        double[] ks = H3Reference.ShiftKernel(c, b, cc);
        Assert.Equal(c.H * Math.Min(n, t), ks.Length);
        double[] conv = H3Reference.ShiftSsmConvolution(c, Batch, k, ks, d);
        double[] rec = H3Reference.ShiftSsmRecurrent(c, Batch, k, b, cc, d);
        double diff = ScaledMaxDiff(rec, conv);
        _out.WriteLine($"shift SSM T={t} N={n}: conv vs recurrence scaled max diff {F(diff)}");
        Assert.True(diff <= 1e-10, $"scaled max diff {F(diff)}");

        // With B = e1 the kernel is C (truncated to min(N,T) taps).
        double[] e1 = new double[c.H * n];
        for (int h = 0; h < c.H; h++)
        {
            e1[h * n] = 1;
        }
        double[] kc = H3Reference.ShiftKernel(c, e1, cc);
        for (int h = 0; h < c.H; h++)
        {
            for (int j = 0; j < c.NT; j++)
            {
                Assert.Equal(cc[h * n + j], kc[h * c.NT + j]);
            }
        }
    }

    [Theory]
    [InlineData(60, 2)]
    [InlineData(60, 64)]
    [InlineData(7, 2)]
    [InlineData(7, 64)]
    public void DiagSsm_ConvolutionEqualsRecurrence(int t, int n)
    {
        var c = new H3Config(5, 5, n, 0, 1, t);
        const int Batch = 2;
        int n2 = n / 2;
        var r = new Random(2000 + 10 * t + n);
        double[] logDt = Enumerable.Range(0, c.H).Select(_ => Math.Log(1e-3) + r.NextDouble() * (Math.Log(1e-1) - Math.Log(1e-3))).ToArray();
        double[] invAReal = Enumerable.Range(0, c.H * n2).Select(_ => Math.Log(0.5) + 0.3 * Normal(r)).ToArray();
        double[] aImag = Enumerable.Range(0, c.H * n2).Select(i => Math.PI * (i % n2) + 0.1 * Normal(r)).ToArray();
        double[] b = Enumerable.Range(0, c.H * n2 * 2).Select(i => (i % 2 == 0 ? 1.0 : 0.0) + 0.2 * Normal(r)).ToArray();
        double[] cc = RandomArray(r, c.H * n2 * 2, Math.Sqrt(0.5));
        double[] d = RandomArray(r, c.H);
        double[] w = RandomArray(r, Batch * t * c.H);

        var (dA, dB) = H3Reference.DiagDiscretize(c, logDt, invAReal, aImag, b);
        Assert.All(dA, z => Assert.True(z.Magnitude < 1)); // Re A < 0 ⇒ |dA| < 1 (bilinear is A-stable)
        double[] kd = H3Reference.DiagKernel(c, dA, dB, cc);
        Assert.Equal(c.H * t, kd.Length);

        // The kernel via Complex.Pow agrees with repeated multiplication.
        for (int h = 0; h < c.H; h++)
        {
            for (int l = 0; l < t; l++)
            {
                double sum = 0;
                for (int m = 0; m < n2; m++)
                {
                    int i = h * n2 + m;
                    sum += 2 * (new Complex(cc[2 * i], cc[2 * i + 1]) * dB[i] * Complex.Pow(dA[i], l)).Real;
                }
                Assert.True(Math.Abs(sum - kd[h * t + l]) <= 1e-12 * Math.Max(1, Math.Abs(sum)), $"Kd[{h},{l}]");
            }
        }

        double[] conv = H3Reference.DiagSsmConvolution(c, Batch, w, kd, d);
        double[] rec = H3Reference.DiagSsmRecurrent(c, Batch, w, dA, dB, cc, d);
        double diff = ScaledMaxDiff(rec, conv);
        _out.WriteLine($"diag SSM T={t} N={n}: conv vs recurrence scaled max diff {F(diff)}");
        Assert.True(diff <= 1e-10, $"scaled max diff {F(diff)}");
    }

    [Theory]
    [InlineData(7, 8, 4, 3, 2, 12, 3)]
    [InlineData(6, 6, 64, 0, 2, 7, 1)]   // E == H, K = 0, T < N
    [InlineData(3, 5, 2, 4, 1, 60, 2)]
    public void Model_ConvolutionEqualsRecurrence(int e, int h, int n, int k, int l, int t, int batch)
    {
        var c = new H3Config(e, h, n, k, l, t);
        var r = new Random(3000 + e + h + n + k + l + t);
        // Random weights around the spec's initialisation, scaled so that every stage matters.
        var w = new Dictionary<string, double[]>();
        foreach (var (name, shape, _) in c.Layout())
        {
            int count = (int)H3Config.Elements(shape);
            double[] v = name switch
            {
                _ when name.EndsWith("diag.log_dt", StringComparison.Ordinal) =>
                    Enumerable.Range(0, count).Select(_ => Math.Log(1e-3) + r.NextDouble() * Math.Log(100)).ToArray(),
                _ when name.EndsWith("diag.inv_A_real", StringComparison.Ordinal) =>
                    Enumerable.Range(0, count).Select(_ => Math.Log(0.5) + 0.1 * Normal(r)).ToArray(),
                _ when name.EndsWith("diag.A_imag", StringComparison.Ordinal) =>
                    Enumerable.Range(0, count).Select(i => Math.PI * (i % (n / 2)) + 0.1 * Normal(r)).ToArray(),
                _ when name.EndsWith("norm1.weight", StringComparison.Ordinal) || name.EndsWith("norm2.weight", StringComparison.Ordinal)
                    || name == "final_norm.weight" => Enumerable.Range(0, count).Select(_ => 1 + 0.1 * Normal(r)).ToArray(),
                _ when shape.Length == 2 => RandomArray(r, count, 1 / Math.Sqrt(shape[1])),
                _ => RandomArray(r, count, 0.5),
            };
            w.Add(name, v);
        }
        double[] input = RandomArray(r, batch * t * e);
        var actsConv = new Dictionary<string, double[]>();
        var actsRec = new Dictionary<string, double[]>();
        double[] conv = H3Reference.ForwardAll(c, w, input, batch, actsConv);
        double[] rec = H3Reference.ForwardAll(c, w, input, batch, actsRec, recurrent: true);
        Assert.Equal(batch * t * h, conv.Length);
        Assert.Equal(actsConv.Keys, actsRec.Keys);
        foreach (var name in actsConv.Keys)
        {
            double diff = ScaledMaxDiff(actsRec[name], actsConv[name]);
            Assert.True(diff <= 1e-10, $"{name}: scaled max diff {F(diff)}");
        }
        double d = ScaledMaxDiff(rec, conv);
        _out.WriteLine($"model {c}: conv vs recurrence scaled max diff {F(d)}");
        Assert.True(d <= 1e-10);
        Assert.Equal(e != h, actsConv.ContainsKey("input_proj"));
        Assert.Equal(k > 0, actsConv.ContainsKey("layers.0.conv"));
    }
}
