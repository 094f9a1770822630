using System;
using System.Collections.Generic;
using System.Numerics;
using System.Numerics.Tensors;

namespace H3.Benchmarks;

/// <summary>
/// The baseline: a straightforward, non-generated C# H3 inference forward (H3-SPEC.md), written the way a C#
/// developer would without a generator: runtime shapes, plain loops, TensorPrimitives where it is natural
/// (one Dot per Linear output, row-wise LayerNorm/activations, channel-vectorised causal convolutions).
/// Computes every frame in every layer, builds the SSM kernels on every call, and takes the last frame at the end.
/// Reads the same flat parameter vector as the generated model (layout = the model's Tensors).
/// All working memory is allocated once for up to maxBatch windows: Forward allocates nothing.
/// </summary>
public sealed class BaselineH3
{
    private readonly int _e, _h, _n, _k, _layers, _t, _f;
    private readonly float[] _p;
    private readonly Dictionary<string, int> _offset = new();
    private readonly Dictionary<string, int>[] _layerOffset;   // per layer, keyed by the name after "layers.{i}."
    private readonly float[] _x, _z, _q, _key, _v, _w, _m, _ffn, _ks, _kd, _acc, _tmp;

    public BaselineH3(H3ModelInfo info, ReadOnlySpan<H3Tensor> tensors, float[] parameters, int maxBatch)
    {
        _e = info.EmbedDim; _h = info.Hidden; _n = info.State; _k = info.ConvSize; _layers = info.Layers; _t = info.WindowSize; _f = info.FfnDim;
        _p = parameters;
        foreach (H3Tensor t in tensors) _offset[t.Name] = t.Offset;
        _layerOffset = new Dictionary<string, int>[_layers];
        for (int i = 0; i < _layers; i++)
        {
            string prefix = "layers." + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
            _layerOffset[i] = new Dictionary<string, int>();
            foreach (H3Tensor t in tensors)
                if (t.Name.StartsWith(prefix, StringComparison.Ordinal)) _layerOffset[i][t.Name.Substring(prefix.Length)] = t.Offset;
        }
        int rows = maxBatch * _t;
        _x = new float[rows * _h]; _z = new float[rows * _h]; _q = new float[rows * _h]; _key = new float[rows * _h];
        _v = new float[rows * _h]; _w = new float[rows * _h]; _m = new float[rows * _h]; _ffn = new float[rows * _f];
        _ks = new float[_t * _h]; _kd = new float[_t * _h]; _acc = new float[_h]; _tmp = new float[_f];
    }

    private ReadOnlySpan<float> P(string name, int length) => _p.AsSpan(_offset[name], length);
    private ReadOnlySpan<float> P(int layer, string name, int length) => _p.AsSpan(_layerOffset[layer][name], length);

    public void Forward(ReadOnlySpan<float> input, Span<float> output, int batch)
    {
        int rows = batch * _t, h = _h;
        Span<float> x = _x.AsSpan(0, rows * h);
        if (_e != _h) Linear(input, rows, _e, h, P("input_proj.weight", h * _e), P("input_proj.bias", h), x);
        else input.Slice(0, rows * h).CopyTo(x);

        for (int i = 0; i < _layers; i++)
        {
            int l = i;
            Span<float> z = _z.AsSpan(0, rows * h), q = _q.AsSpan(0, rows * h), k = _key.AsSpan(0, rows * h);
            Span<float> v = _v.AsSpan(0, rows * h), w = _w.AsSpan(0, rows * h), m = _m.AsSpan(0, rows * h);
            LayerNorm(x, rows, P(l, "norm1.weight", h), P(l, "norm1.bias", h), z);
            Linear(z, rows, h, h, P(l, "mixer.q_proj.weight", h * h), P(l, "mixer.q_proj.bias", h), q);
            Linear(z, rows, h, h, P(l, "mixer.k_proj.weight", h * h), P(l, "mixer.k_proj.bias", h), k);
            Linear(z, rows, h, h, P(l, "mixer.v_proj.weight", h * h), P(l, "mixer.v_proj.bias", h), v);

            // shift SSM: Ks[j, h] = Σ_m B[h,m]·C[h,m+j], then w = (Σ_j Ks[j]·k[t-j] + D·k[t]) ⊙ v
            int taps = Math.Min(_n, _t);
            ReadOnlySpan<float> sb = P(l, "mixer.shift.B", h * _n), sc = P(l, "mixer.shift.C", h * _n);
            for (int c = 0; c < h; c++)
                for (int j = 0; j < taps; j++)
                {
                    double s = 0;
                    for (int mm = 0; mm < _n - j; mm++) s += (double)sb[c * _n + mm] * sc[c * _n + mm + j];
                    _ks[j * h + c] = (float)s;
                }
            CausalConv(k, _ks, taps, P(l, "mixer.shift.D", h), batch, w);
            TensorPrimitives.Multiply(w, v, w);

            // diagonal SSM: Kd[l, h] = 2·Re Σ_n C·dB·dA^l (complex, double), then m = q ⊙ (Σ_l Kd[l]·w[t-l] + D·w[t])
            BuildDiagKernel(l);
            CausalConv(w, _kd, _t, P(l, "mixer.diag.D", h), batch, m);
            TensorPrimitives.Multiply(m, q, m);

            // short convolution + SiLU (into z)
            if (_k > 0)
            {
                ReadOnlySpan<float> cw = P(l, "mixer.conv.weight", h * _k), cb = P(l, "mixer.conv.bias", h);
                for (int b = 0; b < batch; b++)
                    for (int t = 0; t < _t; t++)
                    {
                        int row = b * _t + t;
                        for (int c = 0; c < h; c++)
                        {
                            float s = cb[c];
                            for (int j = 0; j < _k && j <= t; j++) s += cw[c * _k + _k - 1 - j] * m[(row - j) * h + c];
                            z[row * h + c] = s;
                        }
                    }
                Span<float> sig = _tmp.AsSpan(0, h);
                for (int r = 0; r < rows; r++)
                {
                    Span<float> zr = z.Slice(r * h, h);
                    TensorPrimitives.Sigmoid(zr, sig);
                    TensorPrimitives.Multiply(zr, sig, zr);
                }
            }
            else m.CopyTo(z);

            // out_proj + residual
            Linear(z, rows, h, h, P(l, "mixer.out_proj.weight", h * h), P(l, "mixer.out_proj.bias", h), q);
            TensorPrimitives.Add(x, q, x);
            // feed-forward + residual
            LayerNorm(x, rows, P(l, "norm2.weight", h), P(l, "norm2.bias", h), z);
            Span<float> ffn = _ffn.AsSpan(0, rows * _f);
            Linear(z, rows, h, _f, P(l, "mlp.fc1.weight", _f * h), P(l, "mlp.fc1.bias", _f), ffn);
            for (int r = 0; r < rows; r++) Gelu(ffn.Slice(r * _f, _f), _tmp);
            Linear(ffn, rows, _f, h, P(l, "mlp.fc2.weight", h * _f), P(l, "mlp.fc2.bias", h), q);
            TensorPrimitives.Add(x, q, x);
        }
        for (int b = 0; b < batch; b++)
            LayerNorm(x.Slice(((b + 1) * _t - 1) * h, h), 1, P("final_norm.weight", h), P("final_norm.bias", h), output.Slice(b * h, h));
    }

    /// <summary>y[r, o] = Dot(x[r], W[o]) + b[o]: one TensorPrimitives.Dot per output.</summary>
    private static void Linear(ReadOnlySpan<float> x, int rows, int inDim, int outDim, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * inDim, inDim);
            for (int o = 0; o < outDim; o++)
                y[r * outDim + o] = TensorPrimitives.Dot(xr, w.Slice(o * inDim, inDim)) + bias[o];
        }
    }

    private void LayerNorm(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y)
    {
        int h = _h;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * h, h);
            Span<float> yr = y.Slice(r * h, h);
            float mean = TensorPrimitives.Sum(xr) / h;
            TensorPrimitives.Subtract(xr, mean, yr);
            float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(yr) / h + 1e-5f);
            TensorPrimitives.Multiply(yr, rstd, yr);
            TensorPrimitives.Multiply(yr, gamma, yr);
            TensorPrimitives.Add(yr, beta, yr);
        }
    }

    /// <summary>y[b,t] = Σ_{j ≤ min(t, taps-1)} kern[j] ⊙ x[b,t-j] + D ⊙ x[b,t], vectorised over channels.</summary>
    private void CausalConv(ReadOnlySpan<float> x, ReadOnlySpan<float> kern, int taps, ReadOnlySpan<float> d, int batch, Span<float> y)
    {
        int h = _h;
        Span<float> acc = _acc;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < _t; t++)
            {
                int row = b * _t + t;
                TensorPrimitives.Multiply(d, x.Slice(row * h, h), acc);
                for (int j = 0; j < taps && j <= t; j++)
                    TensorPrimitives.MultiplyAdd(kern.Slice(j * h, h), x.Slice((row - j) * h, h), acc, acc);
                acc.CopyTo(y.Slice(row * h, h));
            }
    }

    private void BuildDiagKernel(int l)
    {
        int h = _h, modes = _n / 2;
        ReadOnlySpan<float> logDt = P(l, "mixer.diag.log_dt", h), invAReal = P(l, "mixer.diag.inv_A_real", h * modes);
        ReadOnlySpan<float> aImag = P(l, "mixer.diag.A_imag", h * modes), bp = P(l, "mixer.diag.B", h * _n), cp = P(l, "mixer.diag.C", h * _n);
        for (int c = 0; c < h; c++)
        {
            double dt = Math.Exp(logDt[c]);
            for (int t = 0; t < _t; t++) _kd[t * h + c] = 0;
            for (int n = 0; n < modes; n++)
            {
                int i = c * modes + n;
                Complex a = new(-Math.Exp(invAReal[i]), aImag[i]);
                Complex half = dt * a / 2;
                Complex dA = (1 + half) / (1 - half);
                Complex dB = new Complex(bp[2 * i], bp[2 * i + 1]) * dt / (1 - half);
                Complex term = new Complex(cp[2 * i], cp[2 * i + 1]) * dB;
                for (int t = 0; t < _t; t++)
                {
                    _kd[t * h + c] += (float)(2 * term.Real);
                    term *= dA;
                }
            }
        }
    }

    private static void Gelu(Span<float> a, Span<float> tmp)
    {
        Span<float> t = tmp.Slice(0, a.Length);
        TensorPrimitives.Multiply(a, a, t);                        // a²
        TensorPrimitives.Multiply(t, 0.044715f, t);
        TensorPrimitives.Add(t, 1f, t);                            // 1 + 0.044715·a²
        TensorPrimitives.Multiply(t, a, t);                        // a + 0.044715·a³
        TensorPrimitives.Multiply(t, MathF.Sqrt(2f / MathF.PI), t);
        TensorPrimitives.Tanh(t, t);
        TensorPrimitives.Add(t, 1f, t);
        TensorPrimitives.Multiply(t, a, t);
        TensorPrimitives.Multiply(t, 0.5f, a);
    }
}
