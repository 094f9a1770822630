using System;
using System.Collections.Generic;
using System.Numerics;

namespace H3.Tests;

/// <summary>
/// Plain float64 scalar reference of the H3 model, written line by line from H3-SPEC.md.
/// It is the test oracle: straight loops, no SIMD, no dropout, and no code shared with the
/// generator or the runtime kernels. Tensors are row-major double[]; activations are
/// [batch, T, width] and parameters use the spec's names and shapes.
/// </summary>
public static class H3Reference
{
    // ---------------------------------------------------------------------------------------
    // Model
    // ---------------------------------------------------------------------------------------

    /// <summary>
    /// Forward pass. <paramref name="input"/> is u [batch, T, E]; returns the final-LayerNorm
    /// output at every timestep [batch, T, H]. When <paramref name="activations"/> is given,
    /// every intermediate value is stored under the names of io.safetensors's act.* entries
    /// (without "act."). <paramref name="recurrent"/> = true runs both SSMs in their recurrent
    /// form instead of the convolution form.
    /// </summary>
    public static double[] ForwardAll(H3Config c, IReadOnlyDictionary<string, double[]> w, double[] input, int batch,
        Dictionary<string, double[]>? activations = null, bool recurrent = false)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(input);
        int T = c.T, H = c.H, E = c.E, F = c.F;
        int rows = batch * T;
        if (input.Length != rows * E)
        {
            throw new ArgumentException($"input has {input.Length} values, expected batch·T·E = {rows * E}", nameof(input));
        }
        void Record(string name, double[] value) => activations?.Add(name, (double[])value.Clone());
        double[] P(string name) => w.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"missing parameter '{name}'");

        // x = u·input_proj.weightᵀ + input_proj.bias   (only when E != H; else x = u)
        double[] x;
        if (E != H)
        {
            x = Linear(input, rows, E, H, P("input_proj.weight"), P("input_proj.bias"));
            Record("input_proj", x);
        }
        else
        {
            x = (double[])input.Clone();
        }

        for (int i = 0; i < c.L; i++)
        {
            string p = $"layers.{i}.";
            // z = LayerNorm(x; norm1)
            double[] z = LayerNorm(x, rows, H, P(p + "norm1.weight"), P(p + "norm1.bias"));
            Record(p + "norm1", z);
            // q, k, v projections
            double[] q = Linear(z, rows, H, H, P(p + "mixer.q_proj.weight"), P(p + "mixer.q_proj.bias"));
            double[] k = Linear(z, rows, H, H, P(p + "mixer.k_proj.weight"), P(p + "mixer.k_proj.bias"));
            double[] v = Linear(z, rows, H, H, P(p + "mixer.v_proj.weight"), P(p + "mixer.v_proj.bias"));
            Record(p + "q", q);
            Record(p + "k", k);
            Record(p + "v", v);

            // shift SSM on k
            double[] sB = P(p + "mixer.shift.B"), sC = P(p + "mixer.shift.C"), sD = P(p + "mixer.shift.D");
            double[] ks = ShiftKernel(c, sB, sC);
            Record(p + "shift_kernel", ks);
            double[] kShift = recurrent
                ? ShiftSsmRecurrent(c, batch, k, sB, sC, sD)
                : ShiftSsmConvolution(c, batch, k, ks, sD);
            Record(p + "shift_out", kShift);

            // w = ks ⊙ v
            double[] kv = new double[rows * H];
            for (int r = 0; r < kv.Length; r++)
            {
                kv[r] = kShift[r] * v[r];
            }
            Record(p + "kv", kv);

            // diagonal SSM on w
            var (dA, dB) = DiagDiscretize(c, P(p + "mixer.diag.log_dt"), P(p + "mixer.diag.inv_A_real"),
                P(p + "mixer.diag.A_imag"), P(p + "mixer.diag.B"));
            Record(p + "diag_dA", ComplexToPairs(dA));
            Record(p + "diag_dB", ComplexToPairs(dB));
            double[] dC = P(p + "mixer.diag.C"), dD = P(p + "mixer.diag.D");
            double[] kd = DiagKernel(c, dA, dB, dC);
            Record(p + "diag_kernel", kd);
            double[] yd = recurrent
                ? DiagSsmRecurrent(c, batch, kv, dA, dB, dC, dD)
                : DiagSsmConvolution(c, batch, kv, kd, dD);
            Record(p + "diag_out", yd);

            // m = q ⊙ yd
            double[] m = new double[rows * H];
            for (int r = 0; r < m.Length; r++)
            {
                m[r] = q[r] * yd[r];
            }
            Record(p + "qy", m);

            // short convolution + SiLU (only when K > 0)
            if (c.K > 0)
            {
                m = ShortConv(c, batch, m, P(p + "mixer.conv.weight"), P(p + "mixer.conv.bias"));
                Record(p + "conv", m);
            }

            // o = m·out_projᵀ + b;  x = x + o
            double[] o = Linear(m, rows, H, H, P(p + "mixer.out_proj.weight"), P(p + "mixer.out_proj.bias"));
            Record(p + "mixer_out", o);
            double[] resid1 = new double[rows * H];
            for (int r = 0; r < resid1.Length; r++)
            {
                resid1[r] = x[r] + o[r];
            }
            x = resid1;
            Record(p + "resid1", x);

            // f = GELU_tanh(LayerNorm(x; norm2)·fc1ᵀ + b1)·fc2ᵀ + b2;  x = x + f
            double[] n2 = LayerNorm(x, rows, H, P(p + "norm2.weight"), P(p + "norm2.bias"));
            Record(p + "norm2", n2);
            double[] f1 = Linear(n2, rows, H, F, P(p + "mlp.fc1.weight"), P(p + "mlp.fc1.bias"));
            for (int r = 0; r < f1.Length; r++)
            {
                f1[r] = GeluTanh(f1[r]);
            }
            Record(p + "fc1", f1);
            double[] f2 = Linear(f1, rows, F, H, P(p + "mlp.fc2.weight"), P(p + "mlp.fc2.bias"));
            double[] next = new double[rows * H];
            for (int r = 0; r < next.Length; r++)
            {
                next[r] = x[r] + f2[r];
            }
            x = next;
            Record($"layers.{i}", x);
        }

        // x = LayerNorm(x; final_norm)
        double[] y = LayerNorm(x, rows, H, P("final_norm.weight"), P("final_norm.bias"));
        Record("final_norm", y);
        return y;
    }

    /// <summary>Forward pass returning the last timestep only: y [batch, H].</summary>
    public static double[] Forward(H3Config c, IReadOnlyDictionary<string, double[]> w, double[] input, int batch,
        Dictionary<string, double[]>? activations = null, bool recurrent = false)
    {
        ArgumentNullException.ThrowIfNull(c);
        double[] all = ForwardAll(c, w, input, batch, activations, recurrent);
        int T = c.T, H = c.H;
        double[] y = new double[batch * H];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < H; h++)
            {
                y[b * H + h] = all[(b * T + T - 1) * H + h];
            }
        }
        return y;
    }

    /// <summary>The test loss Σ output ⊙ R (so dloss/doutput = R).</summary>
    public static double Loss(double[] output, double[] r)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(r);
        if (output.Length != r.Length)
        {
            throw new ArgumentException("output and R differ in length", nameof(r));
        }
        double s = 0;
        for (int i = 0; i < output.Length; i++)
        {
            s += output[i] * r[i];
        }
        return s;
    }

    // ---------------------------------------------------------------------------------------
    // Shift SSM (A = shift matrix, trainable B and C, skip D)
    // ---------------------------------------------------------------------------------------

    /// <summary>Ks[h,j] = Σ_{m=0}^{N-1-j} B[h,m]·C[h,m+j], j = 0..min(N,T)-1. Returns [H, min(N,T)].</summary>
    public static double[] ShiftKernel(H3Config c, double[] b, double[] cc)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(cc);
        int H = c.H, N = c.N, NT = c.NT;
        double[] ks = new double[H * NT];
        for (int h = 0; h < H; h++)
        {
            for (int j = 0; j < NT; j++)
            {
                double s = 0;
                for (int m = 0; m <= N - 1 - j; m++)
                {
                    s += b[h * N + m] * cc[h * N + m + j];
                }
                ks[h * NT + j] = s;
            }
        }
        return ks;
    }

    /// <summary>
    /// Convolution form: ks[t,h] = Σ_j Ks[h,j]·k[t-j,h] + D[h]·k[t,h] (k at t &lt; 0 is 0).
    /// k and the result are [batch, T, H]; <paramref name="kernel"/> is [H, min(N,T)].
    /// </summary>
    public static double[] ShiftSsmConvolution(H3Config c, int batch, double[] k, double[] kernel, double[] d)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(d);
        int T = c.T, H = c.H, NT = c.NT;
        double[] y = new double[batch * T * H];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < T; t++)
            {
                for (int h = 0; h < H; h++)
                {
                    double s = 0;
                    for (int j = 0; j < NT && j <= t; j++)
                    {
                        s += kernel[h * NT + j] * k[(b * T + t - j) * H + h];
                    }
                    y[(b * T + t) * H + h] = s + d[h] * k[(b * T + t) * H + h];
                }
            }
        }
        return y;
    }

    /// <summary>
    /// Recurrent form (official H3 step): a length-N shift register per channel,
    /// s ← shift_right(s) + B·k_t, output C·s + D·k_t. k and the result are [batch, T, H].
    /// Within a sequence of T frames it uses exactly the lags 0..min(N,T)-1 of the convolution form.
    /// </summary>
    public static double[] ShiftSsmRecurrent(H3Config c, int batch, double[] k, double[] bMat, double[] cMat, double[] d)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(bMat);
        ArgumentNullException.ThrowIfNull(cMat);
        ArgumentNullException.ThrowIfNull(d);
        int T = c.T, H = c.H, N = c.N;
        double[] y = new double[batch * T * H];
        double[] state = new double[N];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < H; h++)
            {
                Array.Clear(state);
                for (int t = 0; t < T; t++)
                {
                    double kt = k[(b * T + t) * H + h];
                    for (int m = N - 1; m > 0; m--)
                    {
                        state[m] = state[m - 1] + bMat[h * N + m] * kt;
                    }
                    state[0] = bMat[h * N] * kt;
                    double s = 0;
                    for (int m = 0; m < N; m++)
                    {
                        s += cMat[h * N + m] * state[m];
                    }
                    y[(b * T + t) * H + h] = s + d[h] * kt;
                }
            }
        }
        return y;
    }

    // ---------------------------------------------------------------------------------------
    // Diagonal SSM (complex S4D-Lin, bilinear discretisation), n = 0..N/2-1
    // ---------------------------------------------------------------------------------------

    /// <summary>
    /// dt = exp(log_dt), A = -exp(inv_A_real) + i·A_imag, dA = (1 + dt·A/2)/(1 - dt·A/2),
    /// dB = Bc·dt/(1 - dt·A/2). Returns dA, dB as [H, N/2] complex arrays.
    /// </summary>
    public static (Complex[] DA, Complex[] DB) DiagDiscretize(H3Config c, double[] logDt, double[] invAReal,
        double[] aImag, double[] bPairs)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(logDt);
        ArgumentNullException.ThrowIfNull(invAReal);
        ArgumentNullException.ThrowIfNull(aImag);
        ArgumentNullException.ThrowIfNull(bPairs);
        int H = c.H, N2 = c.NHalf;
        var dA = new Complex[H * N2];
        var dB = new Complex[H * N2];
        for (int h = 0; h < H; h++)
        {
            double dt = Math.Exp(logDt[h]);
            for (int n = 0; n < N2; n++)
            {
                int i = h * N2 + n;
                var a = new Complex(-Math.Exp(invAReal[i]), aImag[i]);
                var bc = new Complex(bPairs[2 * i], bPairs[2 * i + 1]);
                Complex half = dt * a / 2.0;
                dA[i] = (1.0 + half) / (1.0 - half);
                dB[i] = bc * dt / (1.0 - half);
            }
        }
        return (dA, dB);
    }

    /// <summary>Kd[h,l] = 2·Re Σ_n Cc·dB·dA^l, l = 0..T-1 (dA^l by repeated multiplication). Returns [H, T].</summary>
    public static double[] DiagKernel(H3Config c, Complex[] dA, Complex[] dB, double[] cPairs)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(dA);
        ArgumentNullException.ThrowIfNull(dB);
        ArgumentNullException.ThrowIfNull(cPairs);
        int H = c.H, N2 = c.NHalf, T = c.T;
        double[] kd = new double[H * T];
        for (int h = 0; h < H; h++)
        {
            for (int n = 0; n < N2; n++)
            {
                int i = h * N2 + n;
                var cc = new Complex(cPairs[2 * i], cPairs[2 * i + 1]);
                Complex cdb = cc * dB[i];
                Complex power = Complex.One; // dA^l
                for (int l = 0; l < T; l++)
                {
                    kd[h * T + l] += 2.0 * (cdb * power).Real;
                    power *= dA[i];
                }
            }
        }
        return kd;
    }

    /// <summary>
    /// Convolution form: yd[t,h] = Σ_{l=0}^{t} Kd[h,l]·w[t-l,h] + D[h]·w[t,h].
    /// w and the result are [batch, T, H]; <paramref name="kernel"/> is [H, T].
    /// </summary>
    public static double[] DiagSsmConvolution(H3Config c, int batch, double[] w, double[] kernel, double[] d)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(d);
        int T = c.T, H = c.H;
        double[] y = new double[batch * T * H];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < T; t++)
            {
                for (int h = 0; h < H; h++)
                {
                    double s = 0;
                    for (int l = 0; l <= t; l++)
                    {
                        s += kernel[h * T + l] * w[(b * T + t - l) * H + h];
                    }
                    y[(b * T + t) * H + h] = s + d[h] * w[(b * T + t) * H + h];
                }
            }
        }
        return y;
    }

    /// <summary>
    /// Recurrent form: complex state s[h,n] ← dA·s + dB·w_t, y_t = 2·Re(Σ_n Cc·s) + D·w_t.
    /// w and the result are [batch, T, H].
    /// </summary>
    public static double[] DiagSsmRecurrent(H3Config c, int batch, double[] w, Complex[] dA, Complex[] dB,
        double[] cPairs, double[] d)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(dA);
        ArgumentNullException.ThrowIfNull(dB);
        ArgumentNullException.ThrowIfNull(cPairs);
        ArgumentNullException.ThrowIfNull(d);
        int T = c.T, H = c.H, N2 = c.NHalf;
        double[] y = new double[batch * T * H];
        var state = new Complex[N2];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < H; h++)
            {
                Array.Clear(state);
                for (int t = 0; t < T; t++)
                {
                    double wt = w[(b * T + t) * H + h];
                    double re = 0;
                    for (int n = 0; n < N2; n++)
                    {
                        int i = h * N2 + n;
                        state[n] = dA[i] * state[n] + dB[i] * wt;
                        re += (new Complex(cPairs[2 * i], cPairs[2 * i + 1]) * state[n]).Real;
                    }
                    y[(b * T + t) * H + h] = 2.0 * re + d[h] * wt;
                }
            }
        }
        return y;
    }

    // ---------------------------------------------------------------------------------------
    // Building blocks
    // ---------------------------------------------------------------------------------------

    /// <summary>y = x·Wᵀ + b with x [rows, inDim], W [outDim, inDim], b [outDim].</summary>
    public static double[] Linear(double[] x, int rows, int inDim, int outDim, double[] weight, double[] bias)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        double[] y = new double[rows * outDim];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outDim; o++)
            {
                double s = bias[o];
                for (int i = 0; i < inDim; i++)
                {
                    s += x[r * inDim + i] * weight[o * inDim + i];
                }
                y[r * outDim + o] = s;
            }
        }
        return y;
    }

    /// <summary>LayerNorm over the last dimension, biased variance, eps = 1e-5.</summary>
    public static double[] LayerNorm(double[] x, int rows, int width, double[] gamma, double[] beta)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(gamma);
        ArgumentNullException.ThrowIfNull(beta);
        const double Eps = 1e-5;
        double[] y = new double[rows * width];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0;
            for (int i = 0; i < width; i++)
            {
                mean += x[r * width + i];
            }
            mean /= width;
            double variance = 0;
            for (int i = 0; i < width; i++)
            {
                double dlt = x[r * width + i] - mean;
                variance += dlt * dlt;
            }
            variance /= width;
            double inv = 1.0 / Math.Sqrt(variance + Eps);
            for (int i = 0; i < width; i++)
            {
                y[r * width + i] = (x[r * width + i] - mean) * inv * gamma[i] + beta[i];
            }
        }
        return y;
    }

    /// <summary>
    /// Causal depthwise convolution then SiLU:
    /// m[t,h] = SiLU(Σ_{j=0}^{K-1} weight[h,0,K-1-j]·m[t-j,h] + bias[h]), m at t &lt; 0 is 0.
    /// </summary>
    public static double[] ShortConv(H3Config c, int batch, double[] m, double[] weight, double[] bias)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        int T = c.T, H = c.H, K = c.K;
        double[] y = new double[batch * T * H];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < T; t++)
            {
                for (int h = 0; h < H; h++)
                {
                    double s = bias[h];
                    for (int j = 0; j < K && j <= t; j++)
                    {
                        s += weight[h * K + (K - 1 - j)] * m[(b * T + t - j) * H + h];
                    }
                    y[(b * T + t) * H + h] = Silu(s);
                }
            }
        }
        return y;
    }

    /// <summary>GELU_tanh(a) = 0.5·a·(1 + tanh(√(2/π)·(a + 0.044715·a³))).</summary>
    public static double GeluTanh(double a) => 0.5 * a * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (a + 0.044715 * a * a * a)));

    /// <summary>SiLU(a) = a·σ(a).</summary>
    public static double Silu(double a) => a / (1.0 + Math.Exp(-a));

    /// <summary>Complex [H·N/2] to interleaved (real, imag) pairs [H, N/2, 2].</summary>
    public static double[] ComplexToPairs(Complex[] z)
    {
        ArgumentNullException.ThrowIfNull(z);
        double[] r = new double[2 * z.Length];
        for (int i = 0; i < z.Length; i++)
        {
            r[2 * i] = z[i].Real;
            r[2 * i + 1] = z[i].Imaginary;
        }
        return r;
    }

    // ---------------------------------------------------------------------------------------
    // Flat parameter vector <-> named tensors (spec order, H3Config.Layout())
    // ---------------------------------------------------------------------------------------

    /// <summary>Splits a flat parameter vector in the spec's order into named tensors.</summary>
    public static Dictionary<string, double[]> FromFlat(H3Config c, ReadOnlySpan<float> flat)
    {
        ArgumentNullException.ThrowIfNull(c);
        var result = new Dictionary<string, double[]>();
        int offset = 0;
        foreach (var (name, shape, _) in c.Layout())
        {
            int count = checked((int)H3Config.Elements(shape));
            if (offset + count > flat.Length)
            {
                throw new ArgumentException($"flat vector too short at '{name}' ({flat.Length} values)", nameof(flat));
            }
            double[] t = new double[count];
            for (int i = 0; i < count; i++)
            {
                t[i] = flat[offset + i];
            }
            result.Add(name, t);
            offset += count;
        }
        if (offset != flat.Length)
        {
            throw new ArgumentException($"flat vector has {flat.Length} values, the layout has {offset}", nameof(flat));
        }
        return result;
    }

    /// <summary>Concatenates named tensors in the spec's order into one flat vector (inverse of <see cref="FromFlat"/>).</summary>
    public static double[] ToFlat(H3Config c, IReadOnlyDictionary<string, double[]> w)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(w);
        var layout = c.Layout();
        double[] flat = new double[checked((int)c.ParameterCount)];
        int offset = 0;
        foreach (var (name, shape, _) in layout)
        {
            int count = checked((int)H3Config.Elements(shape));
            if (!w.TryGetValue(name, out var t))
            {
                throw new KeyNotFoundException($"missing parameter '{name}'");
            }
            if (t.Length != count)
            {
                throw new ArgumentException($"'{name}' has {t.Length} values, expected {count}", nameof(w));
            }
            Array.Copy(t, 0, flat, offset, count);
            offset += count;
        }
        return flat;
    }
}
