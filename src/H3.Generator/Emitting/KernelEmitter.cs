using System;
using System.Collections.Generic;
using System.Text;
using H3.Generator.Parsing;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints the file-local kernel class of one model: shape constants, parameter offsets, one
/// <c>Layer{i}Forward</c> per block, and the shape-specialised kernels they call. Kernels that do
/// elementwise work over channels run on Vector256 (AVX2) when it is accelerated and on Vector128
/// otherwise (every x64/Arm64 machine, and Native AOT's default target); matrix products use register
/// blocking with the reduction tail decided here, at generation time.
/// </summary>
internal static class KernelEmitter
{
    public static string ClassName(H3ModelSpec spec) => spec.TypeName.TrimStart('@') + "Kernels";

    /// <summary>"layers.0.mixer.q_proj.weight" → "L0_MixerQProjWeight"; "final_norm.bias" → "FinalNormBias".</summary>
    public static string OffsetName(string tensorName)
    {
        string[] parts = tensorName.Split('.');
        var sb = new StringBuilder();
        int start = 0;
        if (parts[0] == "layers")
        {
            sb.Append('L').Append(parts[1]).Append('_');
            start = 2;
        }
        for (int i = start; i < parts.Length; i++)
            foreach (string word in parts[i].Split('_'))
                if (word.Length > 0) sb.Append(char.ToUpperInvariant(word[0])).Append(word.Substring(1));
        return sb.ToString();
    }

    public static void Emit(SourceWriter w, H3ModelSpec spec, IReadOnlyList<TensorSpec> layout)
    {
        H3Config c = spec.Config;
        w.Open("namespace H3.Generated");
        w.Line("using System;");
        w.Line("using System.Numerics.Tensors;");
        w.Line("using System.Runtime.CompilerServices;");
        w.Line("using System.Runtime.InteropServices;");
        w.Line("using System.Runtime.Intrinsics;");
        w.Line("using System.Runtime.Intrinsics.X86;");
        w.Line();
        w.Line("/// <summary>");
        w.Line($"/// The forward pass of {spec.TypeName}, specialised to its shapes. Visible only in this file.");
        w.Line("/// Tensors are row-major; activations are [rows = batch·T, channels].");
        w.Line("/// </summary>");
        w.Open($"file static class {ClassName(spec)}");
        WriteConstants(w, c, layout);
        WriteBuffers(w, c);
        WriteForward(w, spec, c);
        for (int i = 0; i < c.L; i++) WriteLayer(w, c, i);
        WriteLayerNorm(w);
        var seen = new HashSet<(long, long)>();
        foreach (var s in c.DenseShapes())
            if (seen.Add(s)) GemmEmitter.WriteLinear(w, s.In, s.Out);
        GemmEmitter.WritePanelKernels(w);
        w.Line();
        WriteShiftKernel(w);
        WriteDiagKernel(w);
        if (c.K > 0) WriteShortConv(w, c);
        ConvEmitter.Write(w, c);
        WriteActivations(w, c);
        w.Line();
        StreamingEmitter.EmitKernels(w, c, layout);
        TrainingEmitter.Emit(w, c);
        w.Close();
        w.Close();
    }

    private static void WriteConstants(SourceWriter w, H3Config c, IReadOnlyList<TensorSpec> layout)
    {
        w.Line("// Shapes, named after H3-SPEC.md.");
        w.Line($"public const int E = {Int(c.E)}, H = {Int(c.H)}, N = {Int(c.N)}, Modes = {Int(c.Modes)}, K = {Int(c.K)}, L = {Int(c.L)}, T = {Int(c.T)}, F = {Int(c.F)};");
        w.Line("/// <summary>Shift-SSM taps that reach an output: min(N, T).</summary>");
        w.Line($"public const int ShiftTaps = {Int(c.ShiftTaps)};");
        w.Line();
        w.Line("// Offsets of every parameter tensor in the flat parameter vector (floats, H3-SPEC.md order).");
        foreach (TensorSpec t in layout)
            w.Line($"public const int {OffsetName(t.Name)} = {Literal(t.Offset)};");
        w.Line();
    }

    private static void WriteBuffers(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// Views into one scratch slab. First the per-layer SSM kernel cache (its layout does not depend on the batch, so a");
        w.Line("/// pooled scratch keeps it across calls), then activations X, Z, Q, Key, Value, U [rows, H], Ffn [rows, F], the");
        w.Line("/// short-convolution kernel (channel-minor, so the channel loops read it contiguously) and the");
        w.Line("/// matrix products' panel scratch.");
        w.Line("/// </summary>");
        w.Open("private readonly ref struct Buffers");
        w.Line("public readonly Span<float> Cache, X, Z, Q, Key, Value, U, Ffn, ConvKernel, Pack;");
        w.Line();
        w.Open("public Buffers(Span<float> scratch, int rows)");
        w.Line("int n = rows * H, o = L * LayerCache;");
        w.Line("Cache = scratch.Slice(0, o);");
        w.Line("X = scratch.Slice(o, n); o += n;");
        w.Line("Z = scratch.Slice(o, n); o += n;");
        w.Line("Q = scratch.Slice(o, n); o += n;");
        w.Line("Key = scratch.Slice(o, n); o += n;");
        w.Line("Value = scratch.Slice(o, n); o += n;");
        w.Line("U = scratch.Slice(o, n); o += n;");
        w.Line("Ffn = scratch.Slice(o, rows * F); o += rows * F;");
        w.Line("ConvKernel = scratch.Slice(o, K * H); o += K * H;");
        w.Line("Pack = scratch.Slice(o, PackLength);");
        w.Close();
        w.Close();
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// One layer's cache entry: a valid flag, a copy of the SSM parameters the kernels were built from, then Ks [ShiftTaps, H]");
        w.Line("/// and Kd [T, H]. The kernels depend only on the weights; rebuilding them costs far more than comparing the parameters.");
        w.Line("/// </summary>");
        w.Line("public const int LayerCache = 1 + SsmParams + ShiftTaps * H + T * H;");
        w.Line();
        w.Line($"/// <summary>Floats of the matrix kernels' panel scratch: the largest forward panel pair, input-gradient chunk of W or weight-gradient block.</summary>");
        w.Line($"public const int PackLength = {Int(c.PackFloats())};");
        w.Line();
        w.Line("/// <summary>Floats of scratch one Forward call needs for <paramref name=\"batch\"/> windows.</summary>");
        w.Line("public static long ScratchLength(int batch) => (long)L * LayerCache + (long)batch * T * (6L * H + F) + (long)K * H + PackLength;");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// The layer's cached SSM kernels in <paramref name=\"entry\"/>, rebuilt first when its SSM parameters differ (bitwise)");
        w.Line("/// from the copy they were built from. Each pooled scratch has its own cache, so concurrent Forward calls never share one.");
        w.Line("/// </summary>");
        w.Open("private static void EnsureSsmKernels(ReadOnlySpan<float> p, int layerOffset, Span<float> entry, out Span<float> ks, out Span<float> kd)");
        w.Line("ReadOnlySpan<float> ssm = p.Slice(layerOffset, SsmParams);");
        w.Line("Span<float> copy = entry.Slice(1, SsmParams);");
        w.Line("ks = entry.Slice(1 + SsmParams, ShiftTaps * H);");
        w.Line("kd = entry.Slice(1 + SsmParams + ShiftTaps * H, T * H);");
        w.Line("if (entry[0] == 1f && MemoryMarshal.AsBytes(ssm).SequenceEqual(MemoryMarshal.AsBytes((ReadOnlySpan<float>)copy))) return;");
        w.Line("entry[0] = 0f; // invalid while rebuilding");
        w.Line("// SsmParams and the Ssm* offsets inside the block (shift.B .. diag.C) are shared with the streaming code.");
        w.Line("ShiftKernel(ssm.Slice(0, H * N), ssm.Slice(SsmShiftC, H * N), ks);");
        w.Line("DiagKernel(ssm.Slice(SsmLogDt, H), ssm.Slice(SsmInvAReal, H * Modes), ssm.Slice(SsmAImag, H * Modes), ssm.Slice(SsmB, H * N), ssm.Slice(SsmC, H * N), kd);");
        w.Line("ssm.CopyTo(copy);");
        w.Line("entry[0] = 1f;");
        w.Close();
        w.Line();
    }

    private static void WriteForward(SourceWriter w, H3ModelSpec spec, H3Config c)
    {
        w.Line("/// <summary>Inference forward: input [batch, T, E] → output [batch, H] (final LayerNorm at the last frame).</summary>");
        w.Open("public static void Forward(ReadOnlySpan<float> p, ReadOnlySpan<float> input, Span<float> output, int batch, Span<float> scratch)");
        w.Line("int rows = batch * T;");
        w.Line("var b = new Buffers(scratch, rows);");
        if (c.HasInputProjection)
        {
            w.Line("// input_proj: x = u·Wᵀ + b   [rows, E] → [rows, H]");
            w.Line($"Linear_{c.E}x{c.H}(input, rows, p.Slice(InputProjWeight, H * E), p.Slice(InputProjBias, H), b.X, accumulate: false, b.Pack);");
        }
        else
        {
            w.Line("// E == H: no input projection, x = u.");
            w.Line("input.Slice(0, rows * H).CopyTo(b.X);");
        }
        for (int i = 0; i < c.L; i++)
        {
            bool last = i == c.L - 1;
            w.Line(last
                ? $"Layer{i}Forward(p, b, batch, lastFrameOnly: true); // only the last frame reaches the output"
                : $"Layer{i}Forward(p, b, batch, lastFrameOnly: false);");
        }
        w.Line("// final_norm at the last frame of each window (the last block left those rows compact in b.Q).");
        w.Line("LayerNorm(b.Q, batch, p.Slice(FinalNormWeight, H), p.Slice(FinalNormBias, H), output);");
        w.Close();
        w.Line();
    }

    private static void WriteLayer(SourceWriter w, H3Config c, int i)
    {
        string L(string s) => "L" + Int(i) + "_" + s;
        w.Line("/// <summary>");
        w.Line($"/// layers.{i}: one pre-norm H3 block over x [rows, H]. With <paramref name=\"lastFrameOnly\"/>, the part after");
        w.Line("/// the mixer (out_proj, residual, feed-forward) runs only on each window's last frame, gathered into b.Q.");
        w.Line("/// </summary>");
        w.Open($"private static void Layer{i}Forward(ReadOnlySpan<float> p, in Buffers b, int batch, bool lastFrameOnly)");
        w.Line("int rows = batch * T;");
        w.Line($"// layers.{i}.norm1: z = LayerNorm(x)");
        w.Line($"LayerNorm(b.X, rows, p.Slice({L("Norm1Weight")}, H), p.Slice({L("Norm1Bias")}, H), b.Z);");
        w.Line($"// layers.{i}.mixer.{{q,k,v}}_proj: q, k, v = z·Wᵀ + b");
        string hh = $"Linear_{c.H}x{c.H}";
        w.Line($"{hh}(b.Z, rows, p.Slice({L("MixerQProjWeight")}, H * H), p.Slice({L("MixerQProjBias")}, H), b.Q, accumulate: false, b.Pack);");
        w.Line($"{hh}(b.Z, rows, p.Slice({L("MixerKProjWeight")}, H * H), p.Slice({L("MixerKProjBias")}, H), b.Key, accumulate: false, b.Pack);");
        w.Line($"{hh}(b.Z, rows, p.Slice({L("MixerVProjWeight")}, H * H), p.Slice({L("MixerVProjBias")}, H), b.Value, accumulate: false, b.Pack);");
        w.Line($"// layers.{i}.mixer.shift: Ks[h,j] = Σ_m B[h,m]·C[h,m+j];  w = (Σ_j Ks[h,j]·k[t-j] + D·k[t]) ⊙ v   → z");
        w.Line($"// (Ks and Kd come from this scratch's cache, rebuilt only when the layer's SSM parameters changed.)");
        w.Line($"EnsureSsmKernels(p, {L("MixerShiftB")}, b.Cache.Slice({Int(i)} * LayerCache, LayerCache), out Span<float> shiftKernel, out Span<float> diagKernel);");
        w.Line($"CausalConv(b.Key, shiftKernel, ShiftTaps, p.Slice({L("MixerShiftD")}, H), b.Z, batch, b.Pack);");
        w.Line("TensorPrimitives.Multiply(b.Z, b.Value, b.Z);");
        w.Line($"// layers.{i}.mixer.diag: Kd[h,l] = 2·Re Σ_n C·dB·dA^l;  m = q ⊙ (Σ_l Kd[h,l]·w[t-l] + D·w[t])   → k");
        w.Line($"CausalConv(b.Z, diagKernel, T, p.Slice({L("MixerDiagD")}, H), b.Key, batch, b.Pack);");
        w.Line("TensorPrimitives.Multiply(b.Key, b.Q, b.Key);");
        string m = "b.Key";
        if (c.K > 0)
        {
            w.Line($"// layers.{i}.mixer.conv: m = SiLU(Σ_j weight[h,0,K-1-j]·m[t-j] + bias)   → v");
            w.Line($"ShortConv(b.Key, p.Slice({L("MixerConvWeight")}, H * K), p.Slice({L("MixerConvBias")}, H), b.ConvKernel, b.Value, batch);");
            w.Line("SiluRows(b.Value, rows);");
            m = "b.Value";
        }
        w.Line($"Span<float> x = b.X, m = {m};");
        w.Line("int n = rows;");
        w.Open("if (lastFrameOnly)");
        w.Line("// Only each window's last frame reaches the output: gather x and m there and finish the block on batch rows.");
        w.Line("GatherLastFrames(b.X, batch, b.Q);");
        w.Line("GatherLastFrames(m, batch, b.Z);");
        w.Line("x = b.Q.Slice(0, batch * H);");
        w.Line("m = b.Z.Slice(0, batch * H);");
        w.Line("n = batch;");
        w.Close();
        w.Line($"// layers.{i}.mixer.out_proj + residual: x += m·W_outᵀ + b");
        w.Line($"{hh}(m, n, p.Slice({L("MixerOutProjWeight")}, H * H), p.Slice({L("MixerOutProjBias")}, H), x, accumulate: true, b.Pack);");
        w.Line($"// layers.{i}.norm2, mlp: x += fc2(GELU(fc1(LayerNorm(x))))");
        w.Line($"LayerNorm(x, n, p.Slice({L("Norm2Weight")}, H), p.Slice({L("Norm2Bias")}, H), b.U);");
        w.Line($"Linear_{c.H}x{c.F}(b.U, n, p.Slice({L("MlpFc1Weight")}, F * H), p.Slice({L("MlpFc1Bias")}, F), b.Ffn, accumulate: false, b.Pack);");
        w.Line("GeluRows(b.Ffn, n);");
        w.Line($"Linear_{c.F}x{c.H}(b.Ffn, n, p.Slice({L("MlpFc2Weight")}, H * F), p.Slice({L("MlpFc2Bias")}, H), x, accumulate: true, b.Pack);");
        w.Close();
        w.Line();
    }

    private static void WriteLayerNorm(SourceWriter w)
    {
        w.Line("/// <summary>y[r] = (x[r] - mean)·rstd·γ + β over H channels (biased variance, eps 1e-5), for r &lt; rows.</summary>");
        w.Open("private static void LayerNorm(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y)");
        w.Open("for (int r = 0; r < rows; r++)");
        w.Line("ReadOnlySpan<float> xr = x.Slice(r * H, H);");
        w.Line("Span<float> yr = y.Slice(r * H, H);");
        w.Line("float mean = TensorPrimitives.Sum(xr) / H;");
        w.Line("TensorPrimitives.Subtract(xr, mean, yr);                  // centred");
        w.Line("float variance = TensorPrimitives.SumOfSquares(yr) / H;   // biased, two-pass");
        w.Line("float rstd = 1f / MathF.Sqrt(variance + 1e-5f);");
        w.Line("TensorPrimitives.Multiply(yr, rstd, yr);");
        w.Line("TensorPrimitives.MultiplyAdd(yr, gamma, beta, yr);");
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// The entry of a dense kernel y (+)= x·Wᵀ + bias (Linear and the streaming MatVec): one length check per span,
    /// then the Vector256 or Vector128 body chosen once.
    /// </summary>
    internal static void WriteDenseEntry(SourceWriter w, string name, long inDim, long outDim)
    {
        w.Open($"private static void {name}(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool accumulate, int from = 0, int to = {Int(outDim)})");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        w.Line("// Every length is checked once here; the loops below index inside these lengths with Unsafe.Add.");
        w.Line("x = x.Slice(0, rows * In);");
        w.Line("w = w.Slice(0, Out * In);");
        w.Line("bias = bias.Slice(0, Out);");
        w.Line("y = y.Slice(0, rows * Out);");
        w.Line("if ((uint)from > (uint)to || (uint)to > Out) throw new ArgumentOutOfRangeException(nameof(to));");
        w.Line("ref float xr = ref MemoryMarshal.GetReference(x);");
        w.Line("ref float wr = ref MemoryMarshal.GetReference(w);");
        w.Line("ref float br = ref MemoryMarshal.GetReference(bias);");
        w.Line("ref float yr = ref MemoryMarshal.GetReference(y);");
        GemmEmitter.WriteWidthDispatch(w, name, "ref xr, rows, ref wr, ref br, ref yr, accumulate, from, to");
        w.Close();
        w.Line();
    }

    /// <summary>The mask of a reduction tail: the vector at In - lanes keeps only its last <paramref name="tail"/> lanes.</summary>
    internal static void WriteTailMask(SourceWriter w, string vec, int lanes, long tail) =>
        w.Line($"{vec}<float> tailMask = {vec}.GreaterThanOrEqual({vec}<int>.Indices, {vec}.Create({lanes - tail})).AsSingle();");

    private static void WriteShiftKernel(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line("/// mixer.shift kernel: Ks[j, h] = Σ_{m=0}^{N-1-j} B[h, m]·C[h, m+j] for j &lt; ShiftTaps (float64 sums), stored [ShiftTaps, H].");
        w.Line("/// Depends only on the weights: computed once per call and shared by the whole batch.");
        w.Line("/// </summary>");
        w.Open("private static void ShiftKernel(ReadOnlySpan<float> bParam, ReadOnlySpan<float> cParam, Span<float> ks)");
        w.Open("for (int h = 0; h < H; h++)");
        w.Line("ReadOnlySpan<float> bh = bParam.Slice(h * N, N), ch = cParam.Slice(h * N, N);");
        w.Open("for (int j = 0; j < ShiftTaps; j++)");
        w.Line("double sum = 0;");
        w.Line("for (int m = 0; m < N - j; m++) sum += (double)bh[m] * ch[m + j];");
        w.Line("ks[j * H + h] = (float)sum;");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private static void WriteDiagKernel(SourceWriter w)
    {
        w.Line("/// <summary>");
        w.Line("/// mixer.diag kernel, complex S4D-Lin with bilinear discretisation, in float64:");
        w.Line("///   dt = exp(log_dt), A = -exp(inv_A_real) + i·A_imag, dA = (1 + dt·A/2)/(1 - dt·A/2), dB = B·dt/(1 - dt·A/2),");
        w.Line("///   Kd[l, h] = 2·Re Σ_n C·dB·dA^l  for l &lt; T, stored [T, H].");
        w.Line("/// The powers come from repeated multiplication (relative error ~ l·1e-16). Depends only on the weights:");
        w.Line("/// computed once per call and shared by the whole batch.");
        w.Line("/// </summary>");
        w.Open("private static void DiagKernel(ReadOnlySpan<float> logDt, ReadOnlySpan<float> invAReal, ReadOnlySpan<float> aImag, ReadOnlySpan<float> bParam, ReadOnlySpan<float> cParam, Span<float> kd)");
        w.Line("Span<double> powRe = stackalloc double[Modes], powIm = stackalloc double[Modes];");
        w.Line("Span<double> dARe = stackalloc double[Modes], dAIm = stackalloc double[Modes];");
        w.Open("for (int h = 0; h < H; h++)");
        w.Line("double dt = Math.Exp(logDt[h]);");
        w.Open("for (int n = 0; n < Modes; n++)");
        w.Line("double xr = -Math.Exp(invAReal[h * Modes + n]) * dt / 2, xi = aImag[h * Modes + n] * dt / 2; // dt·A/2");
        w.Line("double den = (1 - xr) * (1 - xr) + xi * xi;                 // |1 - dt·A/2|²");
        w.Line("// dA = (1 + x)/(1 - x) = (1 + x)(1 - x̄)/|1 - x|²");
        w.Line("dARe[n] = ((1 + xr) * (1 - xr) - xi * xi) / den;");
        w.Line("dAIm[n] = (xi * (1 - xr) + (1 + xr) * xi) / den;");
        w.Line("// dB = B·dt/(1 - x) = B·dt·(1 - x̄)/|1 - x|²;  start the running product at C·dB (= C·dB·dA⁰)");
        w.Line("double br = bParam[(h * Modes + n) * 2], bi = bParam[(h * Modes + n) * 2 + 1];");
        w.Line("double qr = dt * (1 - xr) / den, qi = dt * xi / den;");
        w.Line("double dbr = br * qr - bi * qi, dbi = br * qi + bi * qr;");
        w.Line("double cr = cParam[(h * Modes + n) * 2], ci = cParam[(h * Modes + n) * 2 + 1];");
        w.Line("powRe[n] = cr * dbr - ci * dbi;");
        w.Line("powIm[n] = cr * dbi + ci * dbr;");
        w.Close();
        w.Open("for (int l = 0; l < T; l++)");
        w.Line("double sum = 0;");
        w.Open("for (int n = 0; n < Modes; n++)");
        w.Line("sum += powRe[n];");
        w.Line("double pr = powRe[n] * dARe[n] - powIm[n] * dAIm[n];");
        w.Line("powIm[n] = powRe[n] * dAIm[n] + powIm[n] * dARe[n];");
        w.Line("powRe[n] = pr;");
        w.Close();
        w.Line("kd[l * H + h] = (float)(2 * sum);");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Emits a channel-vectorised loop nest over (b, t, h) once per vector width. The last vector of a row
    /// starts at H - lanes when H is not a multiple of the width: it recomputes a few channels with identical
    /// inputs, which is exact because no kernel using this writes into its own inputs.
    /// </summary>
    private static void WriteChannelLoops(SourceWriter w, H3Config c, string perFrame, Func<string, string, string> body, string scalarBody)
    {
        void Nest(string vec, int lanes)
        {
            w.Open("for (int bi = 0; bi < batch; bi++)");
            w.Open("for (int t = 0; t < T; t++)");
            w.Line("int row = bi * T + t;");
            if (perFrame.Length > 0) w.Line(perFrame);
            if (lanes == 1)
            {
                w.Open("for (int h = 0; h < H; h++)");
                w.Lines(scalarBody);
            }
            else
            {
                w.Open($"for (int h0 = 0; h0 < H; h0 += {lanes})");
                w.Line(c.H % lanes == 0 ? "int h = h0;" : $"int h = Math.Min(h0, H - {lanes}); // the last vector overlaps the previous one");
                w.Lines(body(vec, Int(lanes)));
            }
            w.Close();
            w.Close();
            w.Close();
        }

        if (c.H >= 8)
        {
            w.Open("if (Vector256.IsHardwareAccelerated)");
            Nest("Vector256", 8);
            w.Close();
            w.Open("else");
            w.Line("// Vector128 runs everywhere (in software where it is not accelerated).");
            Nest("Vector128", 4);
            w.Close();
        }
        else if (c.H >= 4)
        {
            w.Line("// H < 8: one Vector128 per row (runs everywhere, in software where it is not accelerated).");
            Nest("Vector128", 4);
        }
        else
        {
            w.Line("// H < 4: narrower than any vector; plain scalar loops.");
            Nest("", 1);
        }
    }

    private static void WriteShortConv(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// mixer.conv before its SiLU: causal depthwise convolution y[b,t,h] = Σ_{j=0}^{min(t,K-1)} weight[h,0,K-1-j]·m[b,t-j,h] + bias[h].");
        w.Line("/// The weights are first transposed to ck[j, h] so the channel loop reads them contiguously.");
        w.Line("/// </summary>");
        w.Open("private static void ShortConv(ReadOnlySpan<float> m, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> ck, Span<float> y, int batch)");
        w.Open("for (int h = 0; h < H; h++)");
        w.Line("for (int j = 0; j < K; j++) ck[j * H + h] = weight[h * K + K - 1 - j];");
        w.Close();
        WriteRefs(w, ("m", "batch * T * H"), ("ck", "K * H"), ("bias", "H"), ("y", "batch * T * H"));
        WriteChannelLoops(w, c, "int taps = Math.Min(t + 1, K);",
            (vec, lanes) =>
                $"{vec}<float> acc = {vec}.LoadUnsafe(ref biasr, (nuint)h);\n" +
                $"for (int j = 0; j < taps; j++)\n" +
                $"    acc = {vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref ckr, (nuint)(j * H + h)), {vec}.LoadUnsafe(ref mr, (nuint)((row - j) * H + h)), acc);\n" +
                $"acc.StoreUnsafe(ref yr, (nuint)(row * H + h));",
            "float acc = bias[h];\n" +
            "for (int j = 0; j < taps; j++) acc += ck[j * H + h] * m[(row - j) * H + h];\n" +
            "y[row * H + h] = acc;");
        w.Close();
        w.Line();
    }

    internal static void WriteRefs(SourceWriter w, params (string Name, string Length)[] spans)
    {
        w.Line("// Lengths are checked once here; the loops index inside them with Unsafe loads.");
        foreach (var (name, length) in spans)
            w.Line($"ref float {name}r = ref MemoryMarshal.GetReference({name}.Slice(0, {length}));");
    }

    private static void WriteActivations(SourceWriter w, H3Config c)
    {
        ActivationEmitter.Emit(w, c, training: false);
        w.Line("/// <summary>dst[b, :] = src[b, T-1, :] for each window b.</summary>");
        w.Open("private static void GatherLastFrames(ReadOnlySpan<float> src, int batch, Span<float> dst)");
        w.Line("for (int bi = 0; bi < batch; bi++) src.Slice((bi * T + T - 1) * H, H).CopyTo(dst.Slice(bi * H, H));");
        w.Close();
        w.Line();
        w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        w.Line("private static void Store(ref float destination, float value, bool accumulate) => destination = accumulate ? destination + value : value;");
    }
}
