using System;
using System.Collections.Generic;

namespace H3.Tests;

/// <summary>
/// The shape of an H3 model as H3-SPEC.md names it: E = EmbedDim, H = Hidden, N = State,
/// K = ConvSize, L = Layers, T = WindowSize. Test-only; shares nothing with the generator.
/// </summary>
public sealed record H3Config(int E, int H, int N, int K, int L, int T)
{
    /// <summary>Feed-forward width F = 4H.</summary>
    public int F => 4 * H;

    /// <summary>Number of shift-SSM taps actually used: min(N, T).</summary>
    public int NT => Math.Min(N, T);

    /// <summary>Number of complex modes of the diagonal SSM: N/2.</summary>
    public int NHalf => N / 2;

    /// <summary>The spec's defaults with E = 287 (3,569,152 parameters).</summary>
    public static H3Config Default { get; } = new(287, 256, 64, 4, 4, 60);

    /// <summary>
    /// The spec's exact count:
    /// (E != H ? E·H + H : 0) + 2H + L·(12H² + 5HN + 16H + (K > 0 ? H·K + H : 0)).
    /// </summary>
    public static long ParameterCountFormula(H3Config c)
    {
        ArgumentNullException.ThrowIfNull(c);
        long e = c.E, h = c.H, n = c.N, k = c.K, l = c.L;
        long inputProj = c.E != c.H ? e * h + h : 0;
        long conv = c.K > 0 ? h * k + h : 0;
        return inputProj + 2 * h + l * (12 * h * h + 5 * h * n + 16 * h + conv);
    }

    /// <summary>Sum of the element counts of <see cref="Layout"/>.</summary>
    public long ParameterCount
    {
        get
        {
            long total = 0;
            foreach (var (_, shape, _) in Layout())
            {
                total += Elements(shape);
            }
            return total;
        }
    }

    /// <summary>Number of elements of a tensor of the given shape.</summary>
    public static long Elements(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (int d in shape)
        {
            n *= d;
        }
        return n;
    }

    /// <summary>
    /// Every parameter in the spec's flat order, with its spec name, its shape as stored in
    /// safetensors, and its optimizer group ("ssm" or "default").
    /// </summary>
    public IReadOnlyList<(string Name, int[] Shape, string Group)> Layout()
    {
        int h = H, n = N, nh = N / 2, f = F;
        var list = new List<(string Name, int[] Shape, string Group)>();
        void Add(string name, string group, params int[] shape) => list.Add((name, shape, group));
        const string Def = "default";
        const string Ssm = "ssm";

        if (E != H)
        {
            Add("input_proj.weight", Def, h, E);
            Add("input_proj.bias", Def, h);
        }
        for (int i = 0; i < L; i++)
        {
            string p = $"layers.{i}.";
            Add(p + "norm1.weight", Def, h);
            Add(p + "norm1.bias", Def, h);
            foreach (string proj in new[] { "q_proj", "k_proj", "v_proj" })
            {
                Add(p + "mixer." + proj + ".weight", Def, h, h);
                Add(p + "mixer." + proj + ".bias", Def, h);
            }
            Add(p + "mixer.shift.B", Ssm, h, n);
            Add(p + "mixer.shift.C", Def, h, n);
            Add(p + "mixer.shift.D", Def, h);
            Add(p + "mixer.diag.log_dt", Ssm, h);
            Add(p + "mixer.diag.inv_A_real", Ssm, h, nh);
            Add(p + "mixer.diag.A_imag", Ssm, h, nh);
            Add(p + "mixer.diag.B", Ssm, h, nh, 2);
            Add(p + "mixer.diag.C", Def, h, nh, 2);
            Add(p + "mixer.diag.D", Def, h);
            if (K > 0)
            {
                Add(p + "mixer.conv.weight", Def, h, 1, K);
                Add(p + "mixer.conv.bias", Def, h);
            }
            Add(p + "mixer.out_proj.weight", Def, h, h);
            Add(p + "mixer.out_proj.bias", Def, h);
            Add(p + "norm2.weight", Def, h);
            Add(p + "norm2.bias", Def, h);
            Add(p + "mlp.fc1.weight", Def, f, h);
            Add(p + "mlp.fc1.bias", Def, f);
            Add(p + "mlp.fc2.weight", Def, h, f);
            Add(p + "mlp.fc2.bias", Def, h);
        }
        Add("final_norm.weight", Def, h);
        Add("final_norm.bias", Def, h);
        return list;
    }
}
