using System;
using System.Collections.Generic;
using H3.Generator.Parsing;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints the causal depthwise convolutions both SSMs (and the short convolution's backward) run on:
/// <c>CausalConv</c> and <c>CausalConvBackward</c>. Each vector of channels walks its window in blocks of
/// <see cref="Block"/> frames with one accumulator per frame: every tap's kernel vector is loaded once and feeds
/// <see cref="Block"/> independent multiply-adds (a frame-at-a-time loop is one dependent FMA chain, latency-bound
/// at an eighth of the machine's rate), and the frames those read slide through registers. The slabs a vector of
/// channels reads are staged contiguously first, with a zero frame on each side for the window to slide onto. Taps run in increasing order for every output, the
/// same order as the plain loop; the block's triangle (taps that reach only its later frames) is unrolled here,
/// since T is a constant.
/// </summary>
internal static class ConvEmitter
{
    /// <summary>
    /// Frames per block: 6 accumulators, the 6-frame window they read (slid by one frame per tap with register moves,
    /// so each tap costs one kernel load and one frame load) and the kernel vector fit AVX2's 16 vector registers.
    /// </summary>
    public const int Block = 6;

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

    /// <summary>
    /// The channel-vector loop shared by both kernels: <paramref name="perChannel"/> stages what the vector of channels
    /// shares across windows (its kernel slab), <paramref name="perWindow"/> prints one window, <paramref name="after"/>
    /// adds the channel's sums.
    /// </summary>
    private static void WriteChannelLoop(SourceWriter w, H3Config c, int lanes, Action perChannel, Action perWindow, Action? after = null)
    {
        w.Open($"for (int h0 = 0; h0 < H; h0 += {lanes})");
        w.Line(c.H % lanes == 0 ? "int h = h0;" : $"int h = Math.Min(h0, H - {lanes}); // the last vector overlaps the previous one");
        perChannel();
        w.Open("for (int bi = 0; bi < batch; bi++)");
        perWindow();
        w.Close();
        after?.Invoke();
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

    /// <summary>A vector of frame <paramref name="frame"/> of a staged slab (rows of <c>S</c> = lanes floats).</summary>
    private static string Load(string vec, string reference, int frame) =>
        frame == 0 ? $"{vec}.LoadUnsafe(ref {reference})" : $"{vec}.LoadUnsafe(ref {reference}, {frame} * S)";

    /// <summary>
    /// Copies a [rows, H] column slab (one vector of channels) into a contiguous [rows][S] buffer. Read in place, a slab's
    /// rows sit H floats apart: at H = 256 that is 1 KiB, so 60 frames fall into 4 of L1's 64 sets and evict each other.
    /// </summary>
    private static void WriteStage(SourceWriter w, string vec, string from, string to, string count) =>
        w.Line($"for (int t = 0; t < {count}; t++) {vec}.LoadUnsafe(ref {from}, (nuint)(t * H)).StoreUnsafe(ref {to}, (nuint)(t * S));");

    private static void WriteForward(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// An SSM as a causal convolution with skip: y[b,t,h] = D[h]·x[b,t,h] + Σ_{j=0}^{min(t, taps-1)} kern[j,h]·x[b,t-j,h].");
        w.Line("/// Both SSMs run this way, forward and training: the shift SSM with its ShiftTaps = min(N, T) taps, the diagonal");
        w.Line($"/// SSM with the precomputed kernel Kd (≤ T = {c.T} real multiply-adds per output, against 4·N/2 = {2 * c.N} for the");
        w.Line("/// complex recurrence; Kd is built once per weight change and shared by the whole batch). The streaming Step uses");
        w.Line("/// the recurrence, which agrees to float32 rounding (tested). The gating products (⊙ v, ⊙ q) are separate passes.");
        w.Line("/// </summary>");
        w.Open("private static void CausalConv(ReadOnlySpan<float> x, ReadOnlySpan<float> kern, int taps, ReadOnlySpan<float> d, Span<float> y, int batch, Span<float> pack)");
        KernelEmitter.WriteRefs(w, ("x", "batch * T * H"), ("kern", "taps * H"), ("d", "H"), ("y", "batch * T * H"), ("pack", "(4 * T + 4) * 8"));
        WriteDispatch(w, c, "CausalConv", "ref xr, ref kernr, taps, ref dr, ref yr, batch, ref packr",
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
            w.Line($"/// <summary>CausalConv on {vec}: per vector of channels (its kernel slab staged once) and window (its x slab staged),");
            w.Line($"/// blocks of {Block} frames with one accumulator each. <paramref name=\"pack\"/>: (2·T + 2)·{lanes} floats of staging.</summary>");
            w.Line(GemmEmitter.HotKernel);
            w.Open($"private static void CausalConv_{V(vec)}(ref float x, ref float kern, int taps, ref float d, ref float y, int batch, ref float pack)");
            w.Line($"const int S = {lanes};");
            w.Line("ref float kb = ref pack;                            // kern[·, h..h+S) as [taps][S]");
            w.Line("ref float xb = ref Unsafe.Add(ref pack, (T + 1) * S); // the window's x[·, h..h+S) as [T][S], zero frames at -1 and T");
            w.Line($"{vec}<float>.Zero.StoreUnsafe(ref xb, unchecked((nuint)(-S)));");
            w.Line($"{vec}<float>.Zero.StoreUnsafe(ref xb, T * S);");
            WriteChannelLoop(w, c, lanes,
                () =>
                {
                    w.Line("ref float kernh = ref Unsafe.Add(ref kern, h);");
                    WriteStage(w, vec, "kernh", "kb", "taps");
                    w.Line($"{vec}<float> dv = {vec}.LoadUnsafe(ref d, (nuint)h);");
                },
                () =>
                {
                    w.Line("ref float xw = ref Unsafe.Add(ref x, bi * T * H + h);");
                    WriteStage(w, vec, "xw", "xb", "T");
                    w.Line("ref float yb = ref Unsafe.Add(ref y, bi * T * H + h);");
                    WriteBlocks(w, c, size => WriteForwardBlock(w, vec, size));
                });
            w.Close();
            w.Line();
        }
    }

    private static string Names(string prefix, int count, Func<int, string> value)
    {
        var parts = new List<string>();
        for (int i = 0; i < count; i++) parts.Add($"{prefix}{i} = {value(i)}");
        return string.Join(", ", parts);
    }

    /// <summary>The window slides one frame: w[i] ← w[i - 1] (back in time, <paramref name="down"/>) or w[i] ← w[i + 1], the freed end loaded.</summary>
    private static void WriteSlide(SourceWriter w, string vec, int size, bool down, string load)
    {
        if (down)
        {
            for (int i = size - 1; i > 0; i--) w.Line($"w{i} = w{i - 1};");
            w.Line($"w0 = {vec}.LoadUnsafe(ref {load});");
        }
        else
        {
            for (int i = 0; i < size - 1; i++) w.Line($"w{i} = w{i + 1};");
            w.Line($"w{size - 1} = {vec}.LoadUnsafe(ref {load});");
        }
    }

    // Outputs t0 .. t0+size-1. Taps j ≤ t0 reach all of them; taps j = t0 + e (0 < e < size) reach outputs i ≥ e only.
    private static void WriteForwardBlock(SourceWriter w, string vec, int size)
    {
        w.Line("ref float xt = ref Unsafe.Add(ref xb, t0 * S);");
        w.Line($"{vec}<float> {Names("w", size, i => Load(vec, "xt", i))}; // w[i] = x[t0 + i - j]");
        w.Line($"{vec}<float> {Names("a", size, i => $"dv * w{i}")};");
        w.Line("int full = Math.Min(t0 + 1, taps); // taps that reach every frame of the block");
        w.Line("ref float kj = ref kb;");
        w.Line("ref float xn = ref Unsafe.Subtract(ref xt, S); // x[t0 - j - 1], the frame entering the window (the zero frame at -1 last)");
        w.Open("for (int j = 0; j < full; j++)");
        w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kj);");
        for (int i = 0; i < size; i++)
            w.Line($"a{i} = {vec}.MultiplyAddEstimate(k, w{i}, a{i});");
        WriteSlide(w, vec, size, down: true, "xn");
        w.Line("kj = ref Unsafe.Add(ref kj, S);");
        w.Line("xn = ref Unsafe.Subtract(ref xn, S);");
        w.Close();
        if (size > 1)
            w.Line("// The triangle: tap t0 + e reaches frames i ≥ e of the block, reading x[i - e] of the window.");
        for (int e = 1; e < size; e++)
        {
            w.Open($"if (t0 + {e} < taps)");
            w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kb, (nuint)((t0 + {e}) * S));");
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
        w.Open("private static void CausalConvBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> kern, int taps, ReadOnlySpan<float> d, Span<float> dx, Span<float> dKern, Span<float> dD, int batch, Span<float> pack)");
        KernelEmitter.WriteRefs(w, ("dy", "batch * T * H"), ("x", "batch * T * H"), ("kern", "taps * H"), ("d", "H"), ("dx", "batch * T * H"), ("dKern", "taps * H"), ("dD", "H"), ("pack", "(4 * T + 4) * 8"));
        WriteDispatch(w, c, "CausalConvBackward", "ref dyr, ref xr, ref kernr, taps, ref dr, ref dxr, ref dKernr, ref dDr, batch, ref packr",
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
            w.Line($"/// <summary>CausalConvBackward on {vec}: per vector of channels and window (slabs staged as in CausalConv), dx in blocks");
            w.Line($"/// of {Block} frames, dKern in blocks of {Block} taps summed over the batch in a staged [taps][{lanes}] buffer. <paramref name=\"pack\"/>: (4·T + 4)·{lanes} floats.</summary>");
            w.Line(GemmEmitter.HotKernel);
            w.Open($"private static void CausalConvBackward_{V(vec)}(ref float dy, ref float x, ref float kern, int taps, ref float d, ref float dx, ref float dKern, ref float dD, int batch, ref float pack)");
            w.Line($"const int S = {lanes};");
            w.Line("ref float kb = ref pack;                                // kern[·, h..h+S) as [taps][S]");
            w.Line("ref float gb = ref Unsafe.Add(ref pack, (T + 1) * S);     // the window's dy[·, h..h+S) as [T][S], zero frames at -1 and T");
            w.Line("ref float xb = ref Unsafe.Add(ref pack, (2 * T + 3) * S); // the window's x[·, h..h+S), likewise");
            w.Line("ref float kg = ref Unsafe.Add(ref pack, (3 * T + 4) * S); // Σ over the batch of dKern[·, h..h+S)");
            foreach (string slab in new[] { "gb", "xb" })
            {
                w.Line($"{vec}<float>.Zero.StoreUnsafe(ref {slab}, unchecked((nuint)(-S)));");
                w.Line($"{vec}<float>.Zero.StoreUnsafe(ref {slab}, T * S);");
            }
            WriteChannelLoop(w, c, lanes,
                () =>
                {
                    w.Line("ref float kernh = ref Unsafe.Add(ref kern, h);");
                    WriteStage(w, vec, "kernh", "kb", "taps");
                    w.Line($"for (int j = 0; j < taps; j++) {vec}<float>.Zero.StoreUnsafe(ref kg, (nuint)(j * S));");
                    w.Line($"{vec}<float> dv = {vec}.LoadUnsafe(ref d, (nuint)h), dDacc = {vec}<float>.Zero;");
                },
                () =>
                {
                    w.Line("ref float gw = ref Unsafe.Add(ref dy, bi * T * H + h);");
                    w.Line("ref float xw = ref Unsafe.Add(ref x, bi * T * H + h);");
                    WriteStage(w, vec, "gw", "gb", "T");
                    WriteStage(w, vec, "xw", "xb", "T");
                    w.Line("ref float db = ref Unsafe.Add(ref dx, bi * T * H + h);");
                    WriteBlocks(w, c, size => WriteInputBlock(w, c, vec, size));
                    w.Line($"// dKern[j] += Σ_t dy[t]·x[t - j], taps in blocks of {Block}.");
                    w.Open($"for (int j0 = 0; j0 < taps; j0 += {Block})");
                    WriteKernelBlock(w, c, vec);
                    w.Close();
                },
                () =>
                {
                    if (c.H % lanes == 0)
                        w.Line($"{vec}<float> fresh = {vec}<float>.AllBitsSet; // H = {c.H} is a multiple of {lanes}: every lane is new");
                    else
                    {
                        w.Line("// Only lanes at or past h0 are new on an overlapping last vector: the accumulated sums add those alone.");
                        w.Line($"{vec}<float> fresh = h == h0 ? {vec}<float>.AllBitsSet : {vec}.GreaterThanOrEqual({vec}<int>.Indices, {vec}.Create(h0 - h)).AsSingle();");
                    }
                    w.Line($"({vec}.LoadUnsafe(ref dD, (nuint)h) + (dDacc & fresh)).StoreUnsafe(ref dD, (nuint)h);");
                    w.Open("for (int j = 0; j < taps; j++)");
                    w.Line("ref float at = ref Unsafe.Add(ref dKern, j * H + h);");
                    w.Line($"({vec}.LoadUnsafe(ref at) + ({vec}.LoadUnsafe(ref kg, (nuint)(j * S)) & fresh)).StoreUnsafe(ref at);");
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
        w.Line("ref float gt = ref Unsafe.Add(ref gb, t0 * S);");
        w.Line("ref float xt = ref Unsafe.Add(ref xb, t0 * S);");
        w.Line($"{vec}<float> {Names("w", size, i => Load(vec, "gt", i))}; // w[i] = dy[t0 + i + j]");
        for (int i = 0; i < size; i++)
            w.Line($"dDacc = {vec}.MultiplyAddEstimate(w{i}, {Load(vec, "xt", i)}, dDacc);");
        w.Line($"{vec}<float> {Names("a", size, i => $"dv * w{i}")};");
        w.Line($"int reach = T - {size - 1} - t0, full = Math.Min(taps, reach); // taps that reach every frame of the block");
        w.Line("ref float kj = ref kb;");
        w.Line($"ref float gn = ref Unsafe.Add(ref gt, {size} * S); // dy[t0 + {size} + j], the frame entering the window (the zero frame at T last)");
        w.Open("for (int j = 0; j < full; j++)");
        w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kj);");
        for (int i = 0; i < size; i++)
            w.Line($"a{i} = {vec}.MultiplyAddEstimate(k, w{i}, a{i});");
        WriteSlide(w, vec, size, down: false, "gn");
        w.Line("kj = ref Unsafe.Add(ref kj, S);");
        w.Line("gn = ref Unsafe.Add(ref gn, S);");
        w.Close();
        if (size > 1)
            w.Line("// The triangle: tap reach + e reaches frames i ≤ size - 2 - e, reading dy[T - size + 1 + i + e] of the window.");
        for (int e = 0; e < size - 1; e++)
        {
            w.Open($"if (reach + {e} < taps)");
            w.Line($"{vec}<float> k = {vec}.LoadUnsafe(ref kb, (nuint)((reach + {e}) * S));");
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
            w.Line($"{vec}<float> g = {vec}.LoadUnsafe(ref gb, (nuint)((j0 + {e}) * S));");
            for (int i = 0; i <= e; i++)
                w.Line($"a{i} = {vec}.MultiplyAddEstimate(g, {Load(vec, "xb", e - i)}, a{i});");
            w.Close();
        }
        w.Line($"{vec}<float> {Names("w", Block, i => Load(vec, "xb", Block - 1 - i))}; // w[i] = x[t - j0 - i] at t = j0 + {Block - 1}");
        w.Line($"ref float xn = ref Unsafe.Add(ref xb, {Block} * S); // x[t + 1 - j0], the frame entering the window (the zero frame at T last)");
        w.Open($"for (int t = j0 + {Block - 1}; t < T; t++)");
        w.Line($"{vec}<float> g = {vec}.LoadUnsafe(ref gb, (nuint)(t * S));");
        for (int i = 0; i < Block; i++)
            w.Line($"a{i} = {vec}.MultiplyAddEstimate(g, w{i}, a{i});");
        WriteSlide(w, vec, Block, down: true, "xn");
        w.Line("xn = ref Unsafe.Add(ref xn, S);");
        w.Close();
        w.Line("ref float kd = ref Unsafe.Add(ref kg, j0 * S);");
        for (int i = 0; i < Block; i++)
        {
            string at = i == 0 ? "ref kd" : $"ref Unsafe.Add(ref kd, {i} * S)";
            w.Line($"if (j0 + {i} < taps) ({vec}.LoadUnsafe({at}) + a{i}).StoreUnsafe({at});");
        }
    }
}
