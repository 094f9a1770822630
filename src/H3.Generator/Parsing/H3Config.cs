using System;
using System.Collections.Generic;

namespace H3.Generator.Parsing;

/// <summary>
/// The seven numbers of an <c>[H3Model]</c> attribute (letters of H3-SPEC.md) and every quantity derived
/// from them. Pure data: the analyzer validates it, the emitter prints it.
/// </summary>
internal readonly record struct H3Config(int E, int H, int N, int K, int L, int T, float P)
{
    /// <summary>Defaults of H3-SPEC.md (mirrors H3.H3Defaults in the runtime, which the generator cannot reference).</summary>
    public const int DefaultHidden = 256, DefaultState = 64, DefaultConvSize = 4, DefaultLayers = 4, DefaultWindowSize = 60;
    public const float DefaultDropout = 0.1f;

    /// <summary>p_e: dropout on x after the input projection (EmbedDropout; 0 = off).</summary>
    public float EmbedP { get; init; }

    /// <summary>Feed-forward width F = 4H.</summary>
    public long F => 4L * H;

    /// <summary>Complex modes of the diagonal SSM, N/2.</summary>
    public int Modes => N / 2;

    /// <summary>Taps of the shift SSM that reach an output: min(N, T).</summary>
    public int ShiftTaps => Math.Min(N, T);

    /// <summary>Whether an input projection exists (E != H).</summary>
    public bool HasInputProjection => E != H;

    /// <summary>Exact parameter count: (E != H ? E·H + H : 0) + 2H + L·(12H² + 5HN + 16H + (K > 0 ? H·K + H : 0)).</summary>
    public long ParameterCount
    {
        get
        {
            long h = H;
            long perLayer = 12 * h * h + 5 * h * N + 16 * h + (K > 0 ? h * K + h : 0);
            return (HasInputProjection ? (long)E * h + h : 0) + 2 * h + L * perLayer;
        }
    }

    /// <summary>
    /// Multiply-add FLOPs of one forward pass over a T-frame window (2 per multiply-add): the matrix products
    /// (input projection, q/k/v/out, fc1/fc2) plus the shift-SSM and diagonal-SSM convolutions and the short
    /// convolution. LayerNorm, GELU and kernel construction are not counted.
    /// </summary>
    public double ForwardFlopsPerWindow
    {
        get
        {
            double t = T, h = H;
            double matmul = (HasInputProjection ? 2.0 * t * E * h : 0) + L * (2.0 * t * 12 * h * h);
            double ssm = L * 2.0 * h * (SumMin(T, ShiftTaps) + SumMin(T, T) + (K > 0 ? SumMin(T, K) : 0));
            return matmul + ssm;
        }
    }

    /// <summary>The diagonal-SSM convolutions' share of <see cref="ForwardFlopsPerWindow"/>: L·H·T(T+1)/2 multiply-adds × 2.</summary>
    public double DiagonalSsmFlopsPerWindow => L * 2.0 * H * SumMin(T, T);

    /// <summary>
    /// Floats of the training workspace for <paramref name="batch"/> windows: the generated kernels'
    /// <c>WorkspaceLength(batch)</c> (TrainingEmitter), which a test compares with <c>CreateWorkspace(1).Length</c>.
    /// Long arithmetic: valid only for configurations inside the ranges of H3-SPEC.md.
    /// </summary>
    public long TrainingWorkspaceFloats(long batch)
    {
        long rows = batch * T, h = H, f = F;
        long kernels = (long)ShiftTaps * h + (long)T * h + (long)K * h;
        long layer = rows * (15 * h + 2 * f + 4) + kernels;
        return L * layer + rows * (E + 2 * h + 2) + rows * (5 * h + f) + kernels + PackFloats() + 2 * h;
    }

    /// <summary>The (In, Out) shapes of the model's matrix products: input_proj (when E != H), q/k/v/out_proj, fc1, fc2.</summary>
    public IEnumerable<(long In, long Out)> DenseShapes()
    {
        if (HasInputProjection) yield return (E, H);
        yield return (H, H);
        yield return (H, F);
        yield return (F, H);
    }

    /// <summary>
    /// Row panels (16 rows each) a forward product packs at a time (GemmEmitter): each block of W rows is then used by every
    /// panel of the group while it sits in L1. At most 8, and the group's xᵀ and yᵀ stay within 128 Ki floats.
    /// </summary>
    public static long LinearPanels(long inDim, long outDim) => Math.Max(1, Math.Min(8, 131072 / (16 * (inDim + outDim))));

    /// <summary>Columns of W an input gradient packs at a time (GemmEmitter): at most 64, a multiple of the 16-wide tile.</summary>
    public static long InputGradChunk(long inDim) => Math.Min(64, RoundUp(inDim, 16));

    /// <summary>Columns of x a weight gradient packs at a time (GemmEmitter): at most 256, a multiple of the 16-wide tile.</summary>
    public static long WeightGradChunk(long inDim) => Math.Min(256, RoundUp(inDim, 16));

    /// <summary>Rows of dy and x a weight gradient reduces per pass over dW.</summary>
    public const int WeightGradRows = 256;

    /// <summary>
    /// Floats of the matrix kernels' panel scratch (<c>PackLength</c>): the largest of a forward panel group 16·(In + Out)·LinearPanels,
    /// an input-gradient chunk of W, Out·InputGradChunk(In), a weight-gradient block of x and dy,
    /// 256·(WeightGradChunk(In) + 8), and the SSM convolutions' staged slabs, (4·T + 4)·8 (ConvEmitter).
    /// </summary>
    public long PackFloats()
    {
        long pack = 8L * (4 * T + 4); // the SSM convolutions' staging: a kernel slab and three padded window slabs of 8 lanes
        foreach (var (i, o) in DenseShapes())
            pack = Math.Max(pack, Math.Max(16 * (i + o) * LinearPanels(i, o), Math.Max(o * InputGradChunk(i), WeightGradRows * (WeightGradChunk(i) + 8))));
        return pack;
    }

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

    // Σ_{t=0}^{T-1} min(t + 1, taps): multiply-adds of a causal convolution with `taps` taps.
    private static double SumMin(int t, int taps)
    {
        double full = Math.Max(0, t - taps);
        double ramp = Math.Min(t, taps);
        return ramp * (ramp + 1) / 2 + full * taps;
    }

    /// <summary>The parameter tensors in the order and layout of H3-SPEC.md.</summary>
    public IReadOnlyList<TensorSpec> Layout()
    {
        var list = new List<TensorSpec>();
        long offset = 0;
        void Add(string name, string group, string init, params long[] shape)
        {
            long length = 1;
            foreach (long d in shape) length *= d;
            list.Add(new TensorSpec(name, new EquatableArray<long>(shape), offset, length, group, init));
            offset += length;
        }

        long h = H, n = N, f = F;
        if (HasInputProjection)
        {
            Add("input_proj.weight", "default", "normal", h, E);
            Add("input_proj.bias", "default", "zero", h);
        }
        for (int i = 0; i < L; i++)
        {
            string p = "layers." + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
            Add(p + "norm1.weight", "default", "one", h);
            Add(p + "norm1.bias", "default", "zero", h);
            foreach (string proj in new[] { "q_proj", "k_proj", "v_proj" })
            {
                Add(p + "mixer." + proj + ".weight", "default", "normal", h, h);
                Add(p + "mixer." + proj + ".bias", "default", "zero", h);
            }
            Add(p + "mixer.shift.B", "ssm", "e1", h, n);
            Add(p + "mixer.shift.C", "default", "shift_c", h, n);
            Add(p + "mixer.shift.D", "default", "std_normal", h);
            Add(p + "mixer.diag.log_dt", "ssm", "log_dt", h);
            Add(p + "mixer.diag.inv_A_real", "ssm", "inv_a_real", h, n / 2);
            Add(p + "mixer.diag.A_imag", "ssm", "a_imag", h, n / 2);
            Add(p + "mixer.diag.B", "ssm", "complex_one", h, n / 2, 2);
            Add(p + "mixer.diag.C", "default", "complex_normal", h, n / 2, 2);
            Add(p + "mixer.diag.D", "default", "std_normal", h);
            if (K > 0)
            {
                Add(p + "mixer.conv.weight", "default", "conv", h, 1, K);
                Add(p + "mixer.conv.bias", "default", "conv", h);
            }
            Add(p + "mixer.out_proj.weight", "default", "normal", h, h);
            Add(p + "mixer.out_proj.bias", "default", "zero", h);
            Add(p + "norm2.weight", "default", "one", h);
            Add(p + "norm2.bias", "default", "zero", h);
            Add(p + "mlp.fc1.weight", "default", "normal", f, h);
            Add(p + "mlp.fc1.bias", "default", "zero", f);
            Add(p + "mlp.fc2.weight", "default", "normal_fc2", h, f);
            Add(p + "mlp.fc2.bias", "default", "zero", h);
        }
        Add("final_norm.weight", "default", "one", h);
        Add("final_norm.bias", "default", "zero", h);
        return list;
    }
}

/// <summary>One parameter tensor: name, shape, offset and length in floats, optimizer group and init rule.</summary>
internal readonly record struct TensorSpec(string Name, EquatableArray<long> Shape, long Offset, long Length, string Group, string Init);
