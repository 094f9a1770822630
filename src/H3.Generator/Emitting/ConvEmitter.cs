using System;
using System.Collections.Generic;
using H3.Generator.Parsing;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints the causal depthwise convolutions both SSMs (and the short convolution's backward) run on:
/// <c>CausalConv</c> and <c>CausalConvBackward</c>. Each vector of channels walks its window in blocks of
/// <see cref="Block"/> frames with one accumulator per frame: every tap's kernel vector is loaded once and feeds
/// <see cref="Block"/> independent multiply-adds, where a frame-at-a-time loop is one dependent FMA chain
/// (latency-bound at an eighth of the machine's rate). Taps run in increasing order for every output, the
/// same order as the plain loop; the block's triangle (taps that reach only its later frames) is unrolled here,
/// since T is a constant.
/// </summary>
internal static class ConvEmitter
{
    /// <summary>Frames per block: 8 accumulators + a kernel vector + a load fit AVX2's 16 registers.</summary>
    public const int Block = 8;

    private static string V(string vec) => vec.Replace("Vector", "V");

    public static void Write(SourceWriter w, H3Config c)
    {
        WriteForward(w, c);
        WriteBackward(w, c);
    }

    /// <summary>The entry: checks lengths once, then picks the widest vector path the channel count allows.</summary>
    private static void WriteDispatch(SourceWriter w, H3Config c, string name, string args, string scalarBody)
    {
        if (c.H >= 8)
        {
            w.Line("if (Vector256.IsHardwareAccelerated)");
            w.Line($"    {name}_V256({args});");
            w.Line("else");
            w.Line($"    {name}_V128({args}); // runs everywhere (in software where Vector128 is not accelerated)");
        }
        else if (c.H >= 4)
        {
            w.Line($"{name}_V128({args}); // H < 8: one Vector128 per frame");
        }
        else
        {
            w.Line("// H < 4: narrower than any vector; plain loops.");
            w.Lines(scalarBody);
        }
    }

    private static IEnumerable<(string Vec, int Lanes)> Widths(H3Config c)
    {
        if (c.H >= 8) yield return ("Vector256", 8);
        if (c.H >= 4) yield return ("Vector128", 4);
    }

    /// <summary>The (batch, channel-vector) loops shared by both kernels; <paramref name="body"/> prints one window.</summary>
    private static void WriteChannelLoop(SourceWriter w, H3Config c, int lanes, Action body)
    {
        w.Open("for (int bi = 0; bi < batch; bi++)");
        w.Open($"for (int h0 = 0; h0 < H; h0 += {lanes})");
        w.Line(c.H % lanes == 0 ? "int h = h0;" : $"int h = Math.Min(h0, H - {lanes}); // the last vector overlaps the previous one");
        body();
        w.Close();
        w.Close();
    }

    /// <summary>Blocks of <see cref="Block"/> frames over the window, then the constant tail block.</summary>
    private static void WriteBlocks(SourceWriter w, H3Config c, Action<int> block)
    {
        int full = c.T / Block * Block, rest = c.T % Block;
        if (full > 0)
        {
            w.Open($"for (int t0 = 0; t0 < {full}; t0 += {Block})");
            block(Block);
            w.Close();
        }
        if (rest > 0)
        {
            w.Open("");
            w.Line($"const int t0 = {full}; // the last {rest} frame{(rest == 1 ? "" : "s")}");
            block(rest);
            w.Close();
        }
    }

    private static string Load(string vec, string reference, int frame) =>
        frame == 0 ? $"{vec}.LoadUnsafe(ref {reference})" : $"{vec}.LoadUnsafe(ref {reference}, {frame} * H)";

    private static void WriteForward(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// An SSM as a causal convolution with skip: y[b,t,h] = D[h]·x[b,t,h] + Σ_{j=0}^{min(t, taps-1)} kern[j,h]·x[b,t-j,h].");
        w.Line("/// Both SSMs run this way, forward and training: the shift SSM with its ShiftTaps = min(N, T) taps, the diagonal");
        w.Line($"/// SSM with the precomputed kernel Kd (≤ T = {c.T} real multiply-adds per output, against 4·N/2 = {2 * c.N} for the");
        w.Line("/// complex recurrence; Kd is built once per weight change and shared by the whole batch). The streaming Step uses");
        w.Line("/// the recurrence, which agrees to float32 rounding (tested). The gating products (⊙ v, ⊙ q) are separate passes.");
        w.Line("/// </summary>");
        w.Open("private static void CausalConv(ReadOnlySpan<float> x, ReadOnlySpan<float> kern, int taps, ReadOnlySpan<float> d, Span<float> y, int batch)");
        KernelEmitter.WriteRefs(w, ("x", "batch * T * H"), ("kern", "taps * H"), ("d", "H"), ("y", "batch * T * H"));
        WriteDispatch(w, c, "CausalConv", "ref xr, ref kernr, taps, ref dr, ref yr, batch",
            "for (int bi = 0; bi < batch; bi++)\n" +
            "    for (int t = 0; t < T; t++)\n" +
            "        for (int h = 0; h < H; h++)\n" +
            "        {\n" +
            "            int row = bi * T + t;\n" +
            "            float acc = d[h] * x[row * H + h];\n" +
            "            for (int j = 0; j < Math.Min(t + 1, taps); j++) acc += kern[j * H + h] * x[(row - j) * H + h];\n" +
            "            y[row * H + h] = acc;\n" +
            "        }");
        w.Close();
        w.Line();
        foreach (var (vec, lanes) in Widths(c))
        {
            w.Line($"/// <summary>CausalConv on {vec}: per window and vector of channels, blocks of {Block} frames with one accumulator each.</summary>");
            w.Line(GemmEmitter.HotKernel);
            w.Open($"private static void CausalConv_{V(vec)}(ref float x, ref float kern, int taps, ref float d, ref float y, int batch)");
            WriteChannelLoop(w, c, lanes, () =>
            {
                w.Line("ref float xb = ref Unsafe.Add(ref x, bi * T * H + h);  // this window's x[0, h]");
                w.Line("ref float yb = ref Unsafe.Add(ref y, bi * T * H + h);");
                w.Line("ref float kb = ref Unsafe.Add(ref kern, h);");
                w.Line($"{vec}<float> dv = {vec}.LoadUnsafe(ref d, (nuint)h);");
                WriteBlocks(w, c, size => WriteForwardBlock(w, vec, size));
            });
            w.Close();
            w.Line();
        }
    }

    // Outputs t0 .. t0+size-1. Taps j ≤ t0 reach all of them; taps j = t0 + e (0 < e < size) reach outputs i ≥ e only.
    private static void WriteForwardBlock(SourceWriter w, string vec, int size)
    {
        w.Line("ref float xt = ref Unsafe.Add(ref xb, t0 * H);");
        var accs = new List<string>();
        for (int i = 0; i < size; i++) accs.Add($"a{i} = dv * {Load(vec, "xt", i)}");
        w.Line($"{vec}<float> {string.Join(", ", accs)};");
        w.Line("int full = Math.Min(t0 + 1, taps); // taps that reach every frame of the block");
        w.Line("ref float kj = ref kb;");
        w.Line("ref float xj = ref xt;                // x[t0 - j]");
        w.Open("for (int j = 0; j < full; j++)");
        w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kj);");
        for (int i = 0; i < size; i++)
            w.Line($"a{i} = {vec}.MultiplyAddEstimate(k, {Load(vec, "xj", i)}, a{i});");
        w.Line("kj = ref Unsafe.Add(ref kj, H);");
        w.Line("xj = ref Unsafe.Subtract(ref xj, H);");
        w.Close();
        if (size > 1)
            w.Line("// The triangle: tap t0 + e reaches frames i ≥ e of the block, reading x[i - e] of the window.");
        for (int e = 1; e < size; e++)
        {
            w.Open($"if (t0 + {e} < taps)");
            w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kb, (nuint)((t0 + {e}) * H));");
            for (int i = e; i < size; i++)
                w.Line($"a{i} = {vec}.MultiplyAddEstimate(k, {Load(vec, "xb", i - e)}, a{i});");
            w.Close();
        }
        for (int i = 0; i < size; i++)
            w.Line(i == 0 ? $"a0.StoreUnsafe(ref Unsafe.Add(ref yb, t0 * H));" : $"a{i}.StoreUnsafe(ref Unsafe.Add(ref yb, t0 * H), {i} * H);");
    }

    private static void WriteBackward(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// Backward of <see cref=\"CausalConv\"/>: dx[t] = D·dy[t] + Σ_{j=0}^{min(taps-1, T-1-t)} kern[j]·dy[t+j] (written),");
        w.Line("/// dKern[j] += Σ_{t≥j} dy[t]·x[t-j] and dD += Σ_t dy[t]·x[t] (accumulated), per channel. Each sum is formed per window");
        w.Line("/// in registers (blocks of frames for dx, blocks of taps for dKern) and added once.");
        w.Line("/// </summary>");
        w.Open("private static void CausalConvBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> kern, int taps, ReadOnlySpan<float> d, Span<float> dx, Span<float> dKern, Span<float> dD, int batch)");
        KernelEmitter.WriteRefs(w, ("dy", "batch * T * H"), ("x", "batch * T * H"), ("kern", "taps * H"), ("d", "H"), ("dx", "batch * T * H"), ("dKern", "taps * H"), ("dD", "H"));
        WriteDispatch(w, c, "CausalConvBackward", "ref dyr, ref xr, ref kernr, taps, ref dr, ref dxr, ref dKernr, ref dDr, batch",
            "for (int bi = 0; bi < batch; bi++)\n" +
            "    for (int t = 0; t < T; t++)\n" +
            "        for (int h = 0; h < H; h++)\n" +
            "        {\n" +
            "            int row = bi * T + t;\n" +
            "            float g = dy[row * H + h];\n" +
            "            float acc = d[h] * g;\n" +
            "            for (int j = 0; j < Math.Min(taps, T - t); j++) acc += kern[j * H + h] * dy[(row + j) * H + h];\n" +
            "            dx[row * H + h] = acc;\n" +
            "            for (int j = 0; j < Math.Min(t + 1, taps); j++) dKern[j * H + h] += g * x[(row - j) * H + h];\n" +
            "            dD[h] += g * x[row * H + h];\n" +
            "        }");
        w.Close();
        w.Line();
        foreach (var (vec, lanes) in Widths(c))
        {
            w.Line($"/// <summary>CausalConvBackward on {vec}: dx in blocks of {Block} frames, dKern in blocks of {Block} taps, per window and vector of channels.</summary>");
            w.Line(GemmEmitter.HotKernel);
            w.Open($"private static void CausalConvBackward_{V(vec)}(ref float dy, ref float x, ref float kern, int taps, ref float d, ref float dx, ref float dKern, ref float dD, int batch)");
            WriteChannelLoop(w, c, lanes, () =>
            {
                w.Line("ref float gb = ref Unsafe.Add(ref dy, bi * T * H + h);  // this window's dy[0, h]");
                w.Line("ref float xb = ref Unsafe.Add(ref x, bi * T * H + h);");
                w.Line("ref float db = ref Unsafe.Add(ref dx, bi * T * H + h);");
                w.Line("ref float kb = ref Unsafe.Add(ref kern, h);");
                w.Line($"{vec}<float> dv = {vec}.LoadUnsafe(ref d, (nuint)h), dDacc = {vec}<float>.Zero;");
                if (c.H % lanes != 0)
                    w.Line("// Only lanes at or past h0 are new on an overlapping last vector: the accumulated sums add those alone.");
                w.Line(c.H % lanes == 0
                    ? $"{vec}<float> fresh = {vec}<float>.AllBitsSet; // H = {c.H} is a multiple of {lanes}: every vector is new"
                    : $"{vec}<float> fresh = h == h0 ? {vec}<float>.AllBitsSet : {vec}.GreaterThanOrEqual({vec}<int>.Indices, {vec}.Create(h0 - h)).AsSingle();");
                WriteBlocks(w, c, size => WriteInputBlock(w, c, vec, size));
                w.Line($"({vec}.LoadUnsafe(ref dD, (nuint)h) + (dDacc & fresh)).StoreUnsafe(ref dD, (nuint)h);");
                w.Line($"// dKern[j] += Σ_t dy[t]·x[t - j], taps in blocks of {Block}.");
                w.Open($"for (int j0 = 0; j0 < taps; j0 += {Block})");
                WriteKernelBlock(w, c, vec);
                w.Close();
            });
            w.Close();
            w.Line();
        }
    }

    // dx at frames t0 .. t0+size-1: taps j < T - (size-1) - t0 reach all of them (t0 + i + j ≤ T - 1); tap
    // j = T - (size-1) - t0 + e reaches frames i ≤ size - 2 - e only, reading dy[T - size + 1 + i + e].
    private static void WriteInputBlock(SourceWriter w, H3Config c, string vec, int size)
    {
        w.Line("ref float gt = ref Unsafe.Add(ref gb, t0 * H);");
        var accs = new List<string>();
        for (int i = 0; i < size; i++) accs.Add($"a{i} = dv * g{i}");
        for (int i = 0; i < size; i++)
            w.Line($"{vec}<float> g{i} = {Load(vec, "gt", i)};");
        w.Line($"{vec}<float> {string.Join(", ", accs)};");
        w.Line("ref float xt = ref Unsafe.Add(ref xb, t0 * H);");
        for (int i = 0; i < size; i++)
            w.Line($"dDacc = {vec}.MultiplyAddEstimate(g{i}, {Load(vec, "xt", i)}, dDacc);");
        w.Line($"int reach = T - {size - 1} - t0, full = Math.Min(taps, reach); // taps that reach every frame of the block");
        w.Line("ref float kj = ref kb;");
        w.Line("ref float gj = ref gt;                // dy[t0 + j]");
        w.Open("for (int j = 0; j < full; j++)");
        w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kj);");
        for (int i = 0; i < size; i++)
            w.Line($"a{i} = {vec}.MultiplyAddEstimate(k, {Load(vec, "gj", i)}, a{i});");
        w.Line("kj = ref Unsafe.Add(ref kj, H);");
        w.Line("gj = ref Unsafe.Add(ref gj, H);");
        w.Close();
        if (size > 1)
            w.Line("// The triangle: tap reach + e reaches frames i ≤ size - 2 - e, reading dy[T - size + 1 + i + e] of the window.");
        for (int e = 0; e < size - 1; e++)
        {
            w.Open($"if (reach + {e} < taps)");
            w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kb, (nuint)((reach + {e}) * H));");
            for (int i = 0; i <= size - 2 - e; i++)
                w.Line($"a{i} = {vec}.MultiplyAddEstimate(k, {Load(vec, "gb", c.T - size + 1 + i + e)}, a{i});");
            w.Close();
        }
        for (int i = 0; i < size; i++)
            w.Line(i == 0 ? $"a0.StoreUnsafe(ref Unsafe.Add(ref db, t0 * H));" : $"a{i}.StoreUnsafe(ref Unsafe.Add(ref db, t0 * H), {i} * H);");
    }

    // dKern[j0 + i] += Σ_{t ≥ j0 + i} dy[t]·x[t - j0 - i] for i < Block: frames j0 .. j0+Block-2 reach taps i ≤ t - j0
    // only (unrolled), later frames reach all of them. Taps at or past `taps` are computed (from zeros or real
    // data) but never stored.
    private static void WriteKernelBlock(SourceWriter w, H3Config c, string vec)
    {
        var accs = new List<string>();
        for (int i = 0; i < Block; i++) accs.Add($"a{i} = {vec}<float>.Zero");
        w.Line($"{vec}<float> {string.Join(", ", accs)};");
        for (int e = 0; e < Block - 1; e++)
        {
            w.Open($"if (j0 + {e} < T)");
            w.Line($"{vec}<float> g = {vec}.LoadUnsafe(ref gb, (nuint)((j0 + {e}) * H));");
            for (int i = 0; i <= e; i++)
                w.Line($"a{i} = {vec}.MultiplyAddEstimate(g, {Load(vec, "xb", e - i)}, a{i});");
            w.Close();
        }
        w.Line($"ref float xs = ref Unsafe.Add(ref xb, {Block - 1} * H); // x[t - j0] at t = j0 + {Block - 1}");
        w.Open($"for (int t = j0 + {Block - 1}; t < T; t++)");
        w.Line($"{vec}<float> g = {vec}.LoadUnsafe(ref gb, (nuint)(t * H));");
        for (int i = 0; i < Block; i++)
            w.Line(i == 0
                ? $"a0 = {vec}.MultiplyAddEstimate(g, {vec}.LoadUnsafe(ref xs), a0);"
                : $"a{i} = {vec}.MultiplyAddEstimate(g, {vec}.LoadUnsafe(ref Unsafe.Subtract(ref xs, {i} * H)), a{i});");
        w.Line("xs = ref Unsafe.Add(ref xs, H);");
        w.Close();
        w.Line("ref float kd = ref Unsafe.Add(ref dKern, j0 * H + h);");
        for (int i = 0; i < Block; i++)
        {
            string at = i == 0 ? "ref kd" : $"ref Unsafe.Add(ref kd, {i} * H)";
            w.Line($"if (j0 + {i} < taps) ({vec}.LoadUnsafe({at}) + (a{i} & fresh)).StoreUnsafe({at});");
        }
    }
}
