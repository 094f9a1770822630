using System;
using System.Collections.Generic;
using H3.Generator.Parsing;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints streaming inference (H3-SPEC.md "Streaming"): the public <c>CreateStream</c>/<c>Step</c> of the model
/// class and, in the kernel class, the state layout, one <c>Layer{i}Step</c> per block and the one-frame kernels.
/// Per layer and stream the state holds the last min(N, T) values of k (a ring), the complex diagonal-SSM state
/// s[n, h] and the last K-1 values of m. A frame costs one matrix-vector product per weight matrix: the
/// <c>MatVec_{In}x{Out}</c> kernels walk the outputs in blocks of eight and run every stream of the batch through
/// each block while its rows of W are in L1, so the weights are read from memory once per step whatever the batch.
/// Each (row, output) dot product is summed in the order of the forward's <c>Linear</c> kernels, so a step's
/// projections equal Forward's bit for bit; only the diagonal SSM (recurrence here, convolution there) rounds
/// differently. The SSM kernels loop over taps or modes outside and channels inside, so every array streams front
/// to back.
/// </summary>
/// <remarks>
/// The SSM coefficients (the shift kernel Ks and the discretised dA, dB and C, channel-minor) are cached in the
/// state with a copy of the parameters they came from (mixer.shift.B through mixer.diag.C of each layer). By
/// default every step compares that copy bitwise with the current parameters and rebuilds the coefficients of a
/// layer that changed, so a step uses the parameters as they are at that call; the comparison reads
/// 2·(5HN + 2H) floats per layer. <c>H3StreamState.CheckParameters = false</c> skips it for parameters that no
/// longer change (<c>RefreshCoefficients()</c> then rebuilds on demand).
/// </remarks>
internal static class StreamingEmitter
{
    private const int OutBlock = 8, RowBlock = 2;

    // ------------------------------------------------------------------------------------------------
    // The model class: CreateStream and Step.
    // ------------------------------------------------------------------------------------------------

    public static void EmitApi(SourceWriter w, H3Config c, string kernels)
    {
        const string st = "global::H3.H3StreamState";
        w.Line("/// <summary>");
        w.Line("/// Creates the recurrent state of <paramref name=\"batch\"/> independent streams for <see cref=\"Step\"/>: per layer and");
        w.Line("/// stream the last min(N, T) values of k, the complex diagonal-SSM state and the last K-1 values of m, plus the");
        w.Line("/// SSM coefficients derived from the parameters and the memory a step works in. Starts reset.");
        w.Line("/// </summary>");
        w.Line("/// <param name=\"batch\">Number of streams stepped together (their weights are read once per step), at least 1.</param>");
        w.Open($"public {st} CreateStream(int batch = 1)");
        w.Line("global::H3.H3Args.CheckBatch(batch);");
        w.Line($"int length = global::H3.H3Args.CheckScratch({kernels}.StreamLength(batch), batch);");
        w.Line($"return new {st}(this, batch, length, (int){kernels}.StreamRecurrentLength(batch));");
        w.Close();
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// <see cref=\"CreateStream(int)\"/> whose steps run on <paramref name=\"threads\"/> threads: with 2, a worker thread takes half of");
        w.Line("/// every matrix product of each <see cref=\"Step\"/> (a step is bound by reading the weights, and two cores read about twice");
        w.Line("/// as fast). Same results, bit for bit. The worker spins briefly between steps, then sleeps; dispose the state to stop it.");
        w.Line("/// </summary>");
        w.Line("/// <param name=\"batch\">Number of streams stepped together, at least 1.</param>");
        w.Line("/// <param name=\"threads\">1 (the calling thread only) or 2 (the calling thread and one worker).</param>");
        w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">batch is not positive, or threads is not 1 or 2.</exception>");
        w.Open($"public {st} CreateStream(int batch, int threads)");
        w.Line("if (threads is not (1 or 2)) throw new global::System.ArgumentOutOfRangeException(nameof(threads), threads, \"threads must be 1 or 2.\");");
        w.Line($"{st} state = CreateStream(batch);");
        w.Line("if (threads == 2)");
        w.Line("{");
        w.Line("    float[] parameters = __h3_parameters;");
        w.Line($"    state.Team = new global::H3.H3StepTeam(part => {kernels}.StepPart(parameters, state, part, 2));");
        w.Line("}");
        w.Line("return state;");
        w.Close();
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// Streaming inference: feeds one frame to each stream of <paramref name=\"state\"/> and writes each stream's encoding");
        w.Line("/// (the final LayerNorm at this frame). From a reset state, the output after the T-th frame equals");
        w.Line("/// <see cref=\"Forward(global::System.ReadOnlySpan{float}, global::System.Span{float}, int)\"/> on those T frames (to float32");
        w.Line("/// rounding); after more than T frames a stream keeps its whole history, as the paper's generation mode does.");
        w.Line("/// Uses the parameters as they are at this call (unless <c>state.CheckParameters</c> was turned off). Allocates");
        w.Line("/// nothing. A state is not thread-safe; different states may step concurrently while nobody writes the parameters.");
        w.Line("/// Frames are not checked for NaN or infinity: a non-finite value makes that stream's output NaN and stays in its");
        w.Line("/// recurrent state until <c>state.Reset()</c>; the other streams are unaffected.");
        w.Line("/// </summary>");
        w.Line($"/// <param name=\"frames\">[state.Batch, EmbedDim = {c.E}] floats, row-major: this frame of every stream.</param>");
        w.Line($"/// <param name=\"output\">[state.Batch, OutputSize = {c.H}] floats, row-major: receives every stream's encoding.</param>");
        w.Line("/// <param name=\"state\">From <see cref=\"CreateStream(int)\"/> of this model instance; advanced by one frame.</param>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">A span has the wrong length for state.Batch, or the state belongs to another model; nothing is written.</exception>");
        w.Open($"public void Step(global::System.ReadOnlySpan<float> frames, global::System.Span<float> output, {st} state)");
        w.Line("global::System.ArgumentNullException.ThrowIfNull(state);");
        w.Line("state.BeginStep(this);");
        w.Line("global::H3.H3Args.CheckLength(frames.Length, (long)state.Batch * EmbedDim, nameof(frames), \"[state.Batch, EmbedDim]\");");
        w.Line("global::H3.H3Args.CheckLength(output.Length, (long)state.Batch * OutputSize, nameof(output), \"[state.Batch, OutputSize]\");");
        w.Line($"{kernels}.Step(__h3_parameters, frames, output, state);");
        w.Line("state.CompleteStep();");
        w.Close();
        w.Line();
    }

    // ------------------------------------------------------------------------------------------------
    // The kernel class.
    // ------------------------------------------------------------------------------------------------

    public static void EmitKernels(SourceWriter w, H3Config c, IReadOnlyList<TensorSpec> layout)
    {
        var offsets = new Dictionary<string, long>();
        foreach (TensorSpec t in layout) offsets[t.Name] = t.Offset;
        long Rel(string tensor) => offsets["layers.0.mixer." + tensor] - offsets["layers.0.mixer.shift.B"];

        w.Line("// ---------------------------------------------------------------------------------------------");
        w.Line("// Streaming (H3-SPEC.md \"Streaming\"): one frame per stream. The state memory holds, in order:");
        w.Line("//   recurrent, per layer: k ring [batch, ShiftTaps, H], s.re and s.im [batch, Modes, H], m history [batch, K-1, H]");
        w.Line("//   coefficients, per layer: Ks [ShiftTaps, H], dA.re, dA.im, dB.re, dB.im, C.re, C.im [Modes, H], and the copy of");
        w.Line("//     the layer's parameters mixer.shift.B .. mixer.diag.C they were derived from");
        w.Line("//   scratch: X, Z, Q, Key, Value, U [batch, H], Ffn [batch, F], ConvKernel [K, H], Frames [batch, E]");
        w.Line("// ---------------------------------------------------------------------------------------------");
        w.Line();
        w.Line("/// <summary>Floats of one layer from mixer.shift.B through mixer.diag.C (the SSM coefficients' sources), and their offsets.</summary>");
        w.Line($"public const int SsmParams = {Literal(Rel("diag.D"))}, SsmShiftC = {Literal(Rel("shift.C"))}, SsmLogDt = {Literal(Rel("diag.log_dt"))}, "
            + $"SsmInvAReal = {Literal(Rel("diag.inv_A_real"))}, SsmAImag = {Literal(Rel("diag.A_imag"))}, SsmB = {Literal(Rel("diag.B"))}, SsmC = {Literal(Rel("diag.C"))};");
        w.Line("/// <summary>m values the short convolution remembers: K - 1.</summary>");
        w.Line($"public const int ConvHistory = {Int(Math.Max(c.K - 1, 0))};");
        w.Line("/// <summary>Recurrent floats of one layer and one stream: the k ring, s.re, s.im and the m history.</summary>");
        w.Line($"public const long StreamLayerState = (long)H * (ShiftTaps + 2L * Modes + ConvHistory);");
        w.Line("/// <summary>Floats of one layer's coefficient cache: Ks, the six [Modes, H] arrays and the parameter copy.</summary>");
        w.Line("public const long StreamLayerCoefficients = (long)ShiftTaps * H + 6L * Modes * H + SsmParams;");
        w.Line();
        w.Line("/// <summary>Leading floats of a stream state that Reset zeroes.</summary>");
        w.Line("public static long StreamRecurrentLength(int batch) => (long)L * batch * StreamLayerState;");
        w.Line();
        w.Line("/// <summary>Floats of a stream state for <paramref name=\"batch\"/> streams.</summary>");
        w.Line("public static long StreamLength(int batch) => StreamRecurrentLength(batch) + L * StreamLayerCoefficients + (long)batch * (6L * H + F) + (long)K * H + (long)batch * E;");
        w.Line();
        WriteStreamBuffers(w);
        WriteStep(w, c);
        WriteRefresh(w, c);
        for (int i = 0; i < c.L; i++) WriteLayerStep(w, c, i);

        var shapes = new List<(long In, long Out)>();
        if (c.HasInputProjection) shapes.Add((c.E, c.H));
        shapes.Add((c.H, c.H));
        shapes.Add((c.H, c.F));
        shapes.Add((c.F, c.H));
        var seen = new HashSet<(long, long)>();
        foreach (var s in shapes)
            if (seen.Add(s)) WriteMatVec(w, s.In, s.Out);
        WriteShiftStep(w, c);
        WriteDiagStep(w, c);
        if (c.K > 0) WriteConvStep(w, c);
    }

    private static void WriteStreamBuffers(SourceWriter w)
    {
        w.Line("/// <summary>Views into a stream state's memory for <c>batch</c> streams (layout above).</summary>");
        w.Open("private readonly ref struct StreamBuffers");
        w.Line("private readonly Span<float> _memory;");
        w.Line("private readonly int _batch;");
        w.Line("public readonly Span<float> X, Z, Q, Key, Value, U, Ffn, ConvKernel, Frames;");
        w.Line();
        w.Open("public StreamBuffers(Span<float> memory, int batch)");
        w.Line("_memory = memory;");
        w.Line("_batch = batch;");
        w.Line("int n = batch * H, o = (int)(StreamRecurrentLength(batch) + L * StreamLayerCoefficients);");
        w.Line("X = memory.Slice(o, n); o += n;");
        w.Line("Z = memory.Slice(o, n); o += n;");
        w.Line("Q = memory.Slice(o, n); o += n;");
        w.Line("Key = memory.Slice(o, n); o += n;");
        w.Line("Value = memory.Slice(o, n); o += n;");
        w.Line("U = memory.Slice(o, n); o += n;");
        w.Line("Ffn = memory.Slice(o, batch * F); o += batch * F;");
        w.Line("ConvKernel = memory.Slice(o, K * H); o += K * H;");
        w.Line("Frames = memory.Slice(o, batch * E); // this step's input, copied where a worker thread can read it");
        w.Close();
        w.Line();
        w.Line("/// <summary>Layer <paramref name=\"layer\"/>'s recurrent state: k ring, s.re, s.im, m history, each [batch, ·, H].</summary>");
        w.Line("public Span<float> Recurrent(int layer) => _memory.Slice((int)(layer * _batch * StreamLayerState), (int)(_batch * StreamLayerState));");
        w.Line();
        w.Line("/// <summary>Layer <paramref name=\"layer\"/>'s coefficient cache: Ks, dA, dB, C and the parameter copy.</summary>");
        w.Line("public Span<float> Coefficients(int layer) => _memory.Slice((int)(StreamRecurrentLength(_batch) + layer * StreamLayerCoefficients), (int)StreamLayerCoefficients);");
        w.Close();
        w.Line();
    }

    private static void WriteStep(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// One frame per stream: frames [batch, E] → output [batch, H], advancing the recurrent state of <paramref name=\"state\"/>.");
        w.Line("/// The caller checked the lengths and the state's owner and counts the frame afterwards. With a team (CreateStream with");
        w.Line("/// two threads) both threads run <see cref=\"StepPart\"/>; the results are the same bits either way.");
        w.Line("/// </summary>");
        w.Open("public static void Step(ReadOnlySpan<float> p, ReadOnlySpan<float> frames, Span<float> output, global::H3.H3StreamState state)");
        w.Line("int batch = state.Batch;");
        w.Line("var s = new StreamBuffers(state.Memory, batch);");
        w.Line("frames.Slice(0, batch * E).CopyTo(s.Frames);");
        w.Line("if (state.Team is { } team) team.Run();");
        w.Line("else StepPart(p, state, part: 0, parts: 1);");
        w.Line("LayerNorm(s.X, batch, p.Slice(FinalNormWeight, H), p.Slice(FinalNormBias, H), output);");
        w.Close();
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// Part <paramref name=\"part\"/> of <paramref name=\"parts\"/> (1 or 2) of a step on the frames in s.Frames, leaving x in s.X.");
        w.Line("/// Matrix products split their outputs (part 0 the first half, in blocks of 8); the SSM, convolution and elementwise");
        w.Line("/// steps, small next to the weights, run on part 0; the parts meet at <see cref=\"Sync\"/> between phases.");
        w.Line("/// </summary>");
        w.Open("public static void StepPart(ReadOnlySpan<float> p, global::H3.H3StreamState state, int part, int parts)");
        w.Line("int batch = state.Batch;");
        w.Line("var s = new StreamBuffers(state.Memory, batch);");
        w.Line("global::H3.H3StepTeam? team = parts > 1 ? state.Team : null;");
        w.Line("// The SSM coefficients follow the parameters: rebuilt for any layer whose parameters differ from the cached copy");
        w.Line("// (unless the caller turned CheckParameters off), and always on the first step or after RefreshCoefficients.");
        w.Line("// Layers are shared out between the parts.");
        w.Line("bool rebuild = !state.CoefficientsReady;");
        w.Open("if (rebuild || state.CheckParameters)");
        for (int i = 0; i < c.L; i++)
            w.Line($"if ({Int(i)} % parts == part) RefreshStreamCoefficients(p.Slice(L{Int(i)}_MixerShiftB, SsmParams), s.Coefficients({Int(i)}), rebuild);");
        w.Close();
        w.Line("Sync(team);");
        w.Line("if (part == 0) state.CoefficientsReady = true;");
        w.Line("long seen = state.FramesSeen;");
        w.Line("int slot = (int)(seen % ShiftTaps);                  // this frame's place in the k ring");
        w.Line("int shiftTaps = (int)Math.Min(seen + 1, ShiftTaps);  // k before the first frame is 0");
        w.Line("int convTaps = (int)Math.Min(seen + 1, K);           // m before the first frame is 0");
        if (c.HasInputProjection)
        {
            w.Line("// input_proj: x = u·Wᵀ + b   [batch, E] → [batch, H]");
            w.Line("Share(H, part, parts, out int from, out int to);");
            w.Line($"MatVec_{c.E}x{c.H}(s.Frames, batch, p.Slice(InputProjWeight, H * E), p.Slice(InputProjBias, H), s.X, accumulate: false, from, to);");
            w.Line("Sync(team);");
        }
        else
        {
            w.Line("// E == H: no input projection, x = u.");
            w.Line("if (part == 0) s.Frames.CopyTo(s.X);");
            w.Line("Sync(team);");
        }
        for (int i = 0; i < c.L; i++)
            w.Line($"Layer{i}Step(p, s, batch, slot, shiftTaps, convTaps, part, parts, team);");
        w.Close();
        w.Line();
        w.Line("/// <summary>Both parts of a step meet here (no-op with one part).</summary>");
        w.Line("private static void Sync(global::H3.H3StepTeam? team) => team?.Sync();");
        w.Line();
        w.Line("/// <summary>Part <paramref name=\"part\"/>'s outputs [from, to) of <paramref name=\"count\"/>: halves split at a multiple of 8.</summary>");
        w.Open("private static void Share(int count, int part, int parts, out int from, out int to)");
        w.Line("int half = parts == 1 ? count : count / 2 / 8 * 8;");
        w.Line("from = part == 0 ? 0 : half;");
        w.Line("to = part == 0 ? half : count;");
        w.Close();
        w.Line();
    }

    private static void WriteRefresh(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// Rebuilds one layer's SSM coefficients when <paramref name=\"ssm\"/> (its parameters mixer.shift.B .. mixer.diag.C)");
        w.Line("/// differs bitwise from the copy they were built from, or when <paramref name=\"force\"/>. Ks comes from the same");
        w.Line("/// <see cref=\"ShiftKernel\"/> as Forward's; dA, dB are built in float64 with DiagKernel's formulas and stored");
        w.Line("/// channel-minor ([Modes, H]) with C, so the step's channel loops read them contiguously.");
        w.Line("/// </summary>");
        w.Open("private static void RefreshStreamCoefficients(ReadOnlySpan<float> ssm, Span<float> coefficients, bool force)");
        w.Line("const int MH = Modes * H;");
        w.Line("Span<float> copy = coefficients.Slice(ShiftTaps * H + 6 * MH, SsmParams);");
        w.Line("if (!force && MemoryMarshal.AsBytes(ssm).SequenceEqual(MemoryMarshal.AsBytes((ReadOnlySpan<float>)copy))) return;");
        w.Line("ssm.CopyTo(copy);");
        w.Line("ShiftKernel(ssm.Slice(0, H * N), ssm.Slice(SsmShiftC, H * N), coefficients.Slice(0, ShiftTaps * H));");
        w.Line("Span<float> dARe = coefficients.Slice(ShiftTaps * H, MH), dAIm = coefficients.Slice(ShiftTaps * H + MH, MH);");
        w.Line("Span<float> dBRe = coefficients.Slice(ShiftTaps * H + 2 * MH, MH), dBIm = coefficients.Slice(ShiftTaps * H + 3 * MH, MH);");
        w.Line("Span<float> cRe = coefficients.Slice(ShiftTaps * H + 4 * MH, MH), cIm = coefficients.Slice(ShiftTaps * H + 5 * MH, MH);");
        w.Line("ReadOnlySpan<float> logDt = ssm.Slice(SsmLogDt, H), invAReal = ssm.Slice(SsmInvAReal, MH), aImag = ssm.Slice(SsmAImag, MH);");
        w.Line("ReadOnlySpan<float> bParam = ssm.Slice(SsmB, 2 * MH), cParam = ssm.Slice(SsmC, 2 * MH);");
        w.Open("for (int h = 0; h < H; h++)");
        w.Line("double dt = Math.Exp(logDt[h]);");
        w.Open("for (int n = 0; n < Modes; n++)");
        w.Line("int i = h * Modes + n, o = n * H + h;");
        w.Line("double xr = -Math.Exp(invAReal[i]) * dt / 2, xi = aImag[i] * dt / 2;   // dt·A/2");
        w.Line("double den = (1 - xr) * (1 - xr) + xi * xi;                            // |1 - dt·A/2|²");
        w.Line("dARe[o] = (float)(((1 + xr) * (1 - xr) - xi * xi) / den);             // dA = (1 + x)(1 - x̄)/|1 - x|²");
        w.Line("dAIm[o] = (float)((xi * (1 - xr) + (1 + xr) * xi) / den);");
        w.Line("double qr = dt * (1 - xr) / den, qi = dt * xi / den;                  // dB = B·dt·(1 - x̄)/|1 - x|²");
        w.Line("double br = bParam[2 * i], bi = bParam[2 * i + 1];");
        w.Line("dBRe[o] = (float)(br * qr - bi * qi);");
        w.Line("dBIm[o] = (float)(br * qi + bi * qr);");
        w.Line("cRe[o] = cParam[2 * i];");
        w.Line("cIm[o] = cParam[2 * i + 1];");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private static void WriteLayerStep(SourceWriter w, H3Config c, int i)
    {
        string L(string s) => "L" + Int(i) + "_" + s;
        string hh = $"MatVec_{c.H}x{c.H}";
        w.Line($"/// <summary>layers.{i} on one frame per stream: x [batch, H] in s.X is updated in place (part <paramref name=\"part\"/> of <paramref name=\"parts\"/>).</summary>");
        w.Open($"private static void Layer{i}Step(ReadOnlySpan<float> p, in StreamBuffers s, int batch, int slot, int shiftTaps, int convTaps, int part, int parts, global::H3.H3StepTeam? team)");
        w.Line($"Span<float> state = s.Recurrent({Int(i)}), coefficients = s.Coefficients({Int(i)});");
        w.Line("int ring = batch * ShiftTaps * H, modes = batch * Modes * H;");
        w.Line("Share(H, part, parts, out int from, out int to);");
        w.Line("Share(F, part, parts, out int fromF, out int toF);");
        w.Line($"// layers.{i}.norm1, mixer.{{q,k,v}}_proj");
        w.Line($"if (part == 0) LayerNorm(s.X, batch, p.Slice({L("Norm1Weight")}, H), p.Slice({L("Norm1Bias")}, H), s.Z);");
        w.Line("Sync(team);");
        w.Line($"{hh}(s.Z, batch, p.Slice({L("MixerQProjWeight")}, H * H), p.Slice({L("MixerQProjBias")}, H), s.Q, accumulate: false, from, to);");
        w.Line($"{hh}(s.Z, batch, p.Slice({L("MixerKProjWeight")}, H * H), p.Slice({L("MixerKProjBias")}, H), s.Key, accumulate: false, from, to);");
        w.Line($"{hh}(s.Z, batch, p.Slice({L("MixerVProjWeight")}, H * H), p.Slice({L("MixerVProjBias")}, H), s.Value, accumulate: false, from, to);");
        w.Line("Sync(team);");
        w.Open("if (part == 0)");
        w.Line($"// layers.{i}.mixer.shift: k joins the ring; w = (Σ_j Ks[j]·k[t-j] + D·k[t]) ⊙ v   → Z");
        w.Line($"ShiftStep(s.Key, s.Value, coefficients.Slice(0, ShiftTaps * H), p.Slice({L("MixerShiftD")}, H), state.Slice(0, ring), s.Z, batch, slot, shiftTaps);");
        w.Line($"// layers.{i}.mixer.diag: s ← dA·s + dB·w;  m = q ⊙ (2·Re Σ_n C·s + D·w)   → Key");
        w.Line($"DiagStep(s.Z, s.Q, coefficients.Slice(ShiftTaps * H, 6 * Modes * H), p.Slice({L("MixerDiagD")}, H), state.Slice(ring, modes), state.Slice(ring + modes, modes), s.U, s.Key, batch);");
        string m = "s.Key";
        if (c.K > 0)
        {
            w.Line($"// layers.{i}.mixer.conv: m = SiLU(Σ_j weight[h,0,K-1-j]·m[t-j] + bias); m joins its history   → Value");
            w.Line($"ConvStep(s.Key, p.Slice({L("MixerConvWeight")}, H * K), p.Slice({L("MixerConvBias")}, H), s.ConvKernel, state.Slice(ring + 2 * modes, batch * ConvHistory * H), s.Value, batch, convTaps);");
            w.Line("SiluRows(s.Value, batch);");
            m = "s.Value";
        }
        w.Close();
        w.Line("Sync(team);");
        w.Line($"// layers.{i}.mixer.out_proj + residual, norm2, mlp + residual");
        w.Line($"{hh}({m}, batch, p.Slice({L("MixerOutProjWeight")}, H * H), p.Slice({L("MixerOutProjBias")}, H), s.X, accumulate: true, from, to);");
        w.Line("Sync(team);");
        w.Line($"if (part == 0) LayerNorm(s.X, batch, p.Slice({L("Norm2Weight")}, H), p.Slice({L("Norm2Bias")}, H), s.U);");
        w.Line("Sync(team);");
        w.Line($"MatVec_{c.H}x{c.F}(s.U, batch, p.Slice({L("MlpFc1Weight")}, F * H), p.Slice({L("MlpFc1Bias")}, F), s.Ffn, accumulate: false, fromF, toF);");
        w.Line("Sync(team);");
        w.Line("if (part == 0) GeluRows(s.Ffn, batch);");
        w.Line("Sync(team);");
        w.Line($"MatVec_{c.F}x{c.H}(s.Ffn, batch, p.Slice({L("MlpFc2Weight")}, H * F), p.Slice({L("MlpFc2Bias")}, H), s.X, accumulate: true, from, to);");
        w.Line("Sync(team);");
        w.Close();
        w.Line();
    }

    // ------------------------------------------------------------------------------------------------
    // Matrix-vector products: outputs outer (blocks of 4), streams inner, so each block's weights are read
    // from memory once per step and reused from L1 by every stream.
    // ------------------------------------------------------------------------------------------------

    private static void WriteMatVec(SourceWriter w, long inDim, long outDim)
    {
        string name = $"MatVec_{inDim}x{outDim}";
        w.Line($"/// <summary>");
        w.Line($"/// y[r, o] (+)= Σ_i x[r, i]·W[o, i] + bias[o] for one frame per stream: x [rows, {inDim}], W [{outDim}, {inDim}], y [rows, {outDim}].");
        w.Line($"/// Outputs in blocks of {OutBlock}, all rows per block: W is streamed once whatever the number of rows. Each (row, output)");
        w.Line($"/// sum is a dot product over vectors of i (Linear_{inDim}x{outDim} sums i in order instead), so Step and Forward agree to float");
        w.Line("/// rounding, not bit for bit (tested).");
        w.Line($"/// </summary>");
        KernelEmitter.WriteDenseEntry(w, name, inDim, outDim);
        WriteMatVecWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteMatVecWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteMatVecWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        long vectors = inDim / lanes, tail = inDim % lanes;
        bool masked = vectors > 0 && tail > 0;
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: per block of {OutBlock} outputs, rows in pairs ({OutBlock / 2} outputs × 2 rows at a time) and a last");
        w.Line($"/// single row ({OutBlock} outputs at once): {OutBlock} independent accumulators of {lanes} lanes either way.");
        w.Line("/// </summary>");
        w.Line(GemmEmitter.HotKernel);
        w.Open($"private static void {name}_{vec.Replace("Vector", "V")}(ref float x, int rows, ref float w, ref float bias, ref float y, bool accumulate, int from, int to)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        if (masked)
            KernelEmitter.WriteTailMask(w, vec, lanes, tail);
        long blocks = outDim / OutBlock;
        w.Line($"// Outputs [from, to): from is a multiple of {OutBlock}; the last {Int(outDim % OutBlock)} (past the full blocks) belong to whoever ends at Out.");
        if (blocks > 0)
        {
            w.Open($"for (int o = from; o < Math.Min(to, {Int(blocks * OutBlock)}); o += {OutBlock})");
            WriteRows(w, OutBlock, "o", vectors, masked, vec, lanes);
            w.Close();
        }
        long done = blocks * OutBlock;
        if (outDim > done) w.Open("if (to == Out)");
        foreach (int size in new[] { OutBlock / 2, 1 })
        {
            while (outDim - done >= size)
            {
                w.Open("");
                w.Line($"const int o = {Int(done)}; // {(size == 1 ? "one" : Int(size))} of the last {Int(outDim - done)} outputs");
                WriteRows(w, size, "o", vectors, masked, vec, lanes);
                w.Close();
                done += size;
            }
        }
        if (outDim > blocks * OutBlock) w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>Rows in pairs (at most OutBlock/2 outputs per pass), then a last single row with all <paramref name="outs"/> outputs.</summary>
    private static void WriteRows(SourceWriter w, int outs, string o, long vectors, bool masked, string vec, int lanes)
    {
        int half = Math.Min(outs, OutBlock / 2);
        w.Line("int r = 0;");
        w.Open($"for (; r + {RowBlock} <= rows; r += {RowBlock})");
        for (int first = 0; first < outs; first += half)
            WriteDot(w, RowBlock, Math.Min(half, outs - first), first == 0 ? o : $"{o} + {first}", vectors, masked, vec, lanes);
        w.Close();
        w.Open("if (r < rows)");
        WriteDot(w, 1, outs, o, vectors, masked, vec, lanes);
        w.Close();
    }

    /// <summary>
    /// y[r + ri, o0 + oi] (+)= x[r + ri]·W[o0 + oi] + bias for ri &lt; rows, oi &lt; outs: one accumulator per (row, output),
    /// reduced over the vectors in order, the masked tail last, then Sum; the order of Linear's dot blocks.
    /// </summary>
    private static void WriteDot(SourceWriter w, int rows, int outs, string o0, long vectors, bool masked, string vec, int lanes)
    {
        static string Row(int oi) => oi == 0 ? "" : oi == 1 ? " + In" : $" + {oi} * In";
        w.Open("");
        for (int ri = 0; ri < rows; ri++)
            w.Line($"ref float x{ri} = ref Unsafe.Add(ref x, (r + {ri}) * In);");
        w.Line($"ref float wb = ref Unsafe.Add(ref w, {(o0 == "o" ? o0 : "(" + o0 + ")")} * In); // the block's rows of W sit at constant distances In");
        var accs = new List<string>();
        for (int ri = 0; ri < rows; ri++)
            for (int oi = 0; oi < outs; oi++)
                accs.Add($"a{ri}{oi}");
        if (vectors > 0)
        {
            w.Line($"{vec}<float> {string.Join(", ", accs.ConvertAll(a => a + $" = {vec}<float>.Zero"))};");
            void FmaStep(string mask)
            {
                for (int ri = 0; ri < rows; ri++)
                    w.Line($"{vec}<float> xv{ri} = {vec}.LoadUnsafe(ref x{ri}, i){mask};");
                for (int oi = 0; oi < outs; oi++)
                {
                    if (rows == 1)
                    {
                        w.Line($"a0{oi} = {vec}.MultiplyAddEstimate(xv0, {vec}.LoadUnsafe(ref wb, i{Row(oi)}), a0{oi});");
                        continue;
                    }
                    w.Line($"{vec}<float> wv{oi} = {vec}.LoadUnsafe(ref wb, i{Row(oi)});");
                    for (int ri = 0; ri < rows; ri++)
                        w.Line($"a{ri}{oi} = {vec}.MultiplyAddEstimate(xv{ri}, wv{oi}, a{ri}{oi});");
                }
            }
            w.Open($"for (nuint i = 0; i < {Int(vectors * lanes)}; i += {lanes})");
            FmaStep("");
            w.Close();
            if (masked)
            {
                w.Open("");
                w.Line($"const nuint i = In - {lanes}; // tail: lanes already counted are masked off in x");
                FmaStep(" & tailMask");
                w.Close();
            }
            foreach (string a in accs)
                w.Line($"float s{a.Substring(1)} = {vec}.Sum({a});");
        }
        else
        {
            w.Line($"float {string.Join(", ", accs.ConvertAll(a => "s" + a.Substring(1) + " = 0f"))};");
            w.Open("for (int i = 0; i < In; i++)");
            for (int ri = 0; ri < rows; ri++)
            {
                w.Line($"float xv{ri} = Unsafe.Add(ref x{ri}, i);");
                for (int oi = 0; oi < outs; oi++)
                    w.Line($"s{ri}{oi} += xv{ri} * Unsafe.Add(ref wb, i{Row(oi)});");
            }
            w.Close();
        }
        for (int ri = 0; ri < rows; ri++)
            for (int oi = 0; oi < outs; oi++)
                w.Line($"Store(ref Unsafe.Add(ref y, (r + {ri}) * Out + {o0} + {oi}), s{ri}{oi} + Unsafe.Add(ref bias, {o0} + {oi}), accumulate);");
        w.Close();
    }

    // ------------------------------------------------------------------------------------------------
    // SSM and convolution steps, vectorised over channels.
    // ------------------------------------------------------------------------------------------------

    /// <summary>Emits <paramref name="nest"/> once per vector width: Vector256 when accelerated, else Vector128; scalar when H &lt; 4.</summary>
    private static void WriteWidths(SourceWriter w, H3Config c, Action<string, int> nest)
    {
        if (c.H >= 8)
        {
            w.Open("if (Vector256.IsHardwareAccelerated)");
            nest("Vector256", 8);
            w.Close();
            w.Open("else");
            nest("Vector128", 4);
            w.Close();
        }
        else if (c.H >= 4)
        {
            w.Line("// H < 8: one Vector128 per row (runs everywhere, in software where it is not accelerated).");
            nest("Vector128", 4);
        }
        else
        {
            w.Line("// H < 4: narrower than any vector; plain scalar loops.");
            nest("", 1);
        }
    }

    /// <summary>
    /// Opens a loop over the channel vectors (or channels, when <paramref name="lanes"/> is 1). With H not a multiple
    /// of the width the last vector starts at H - lanes and overlaps the previous one: <c>fresh</c> marks the lanes it
    /// adds, so a kernel updating memory in place keeps the overlapped lanes as the previous vector left them.
    /// </summary>
    private static void OpenChannels(SourceWriter w, H3Config c, string vec, int lanes, bool needsFresh)
    {
        if (lanes == 1)
        {
            w.Open("for (int h = 0; h < H; h++)");
            return;
        }
        w.Open($"for (int h0 = 0; h0 < H; h0 += {lanes})");
        if (c.H % lanes == 0)
        {
            w.Line("int h = h0;");
        }
        else
        {
            w.Line($"int h = Math.Min(h0, H - {lanes}); // the last vector overlaps the previous one");
            if (needsFresh)
                w.Line($"{vec}<float> fresh = {vec}.GreaterThanOrEqual({vec}<int>.Indices, {vec}.Create(h0 - h)).AsSingle(); // lanes not done yet");
        }
    }

    /// <summary>
    /// The value to store in place: <paramref name="fresh"/> itself when H is a multiple of the width, else only the
    /// overlapping last vector's new lanes take it and the others keep <paramref name="old"/>.
    /// </summary>
    private static string Blend(H3Config c, string vec, int lanes, string fresh, string old) =>
        c.H % lanes == 0 ? fresh : $"{vec}.ConditionalSelect(fresh, {fresh}, {old})";

    private static void WriteShiftStep(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// mixer.shift on one frame, times v: k[b] joins the ring at <paramref name=\"slot\"/>, then");
        w.Line("/// w[b,h] = (D[h]·k[b,h] + Σ_{j&lt;taps} Ks[j,h]·ring[b, (slot - j) mod ShiftTaps, h])·v[b,h], summed in Forward's order.");
        w.Line("/// Taps outer, channels inner, accumulating in w: every array is read front to back.");
        w.Line("/// </summary>");
        w.Open("private static void ShiftStep(ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> ks, ReadOnlySpan<float> d, Span<float> ring, Span<float> w, int batch, int slot, int taps)");
        w.Line("for (int b = 0; b < batch; b++) k.Slice(b * H, H).CopyTo(ring.Slice((b * ShiftTaps + slot) * H, H));");
        KernelEmitter.WriteRefs(w, ("k", "batch * H"), ("v", "batch * H"), ("ks", "ShiftTaps * H"), ("d", "H"), ("ring", "batch * ShiftTaps * H"), ("w", "batch * H"));
        WriteWidths(w, c, (vec, lanes) =>
        {
            bool scalar = lanes == 1;
            w.Open("for (int bi = 0; bi < batch; bi++)");
            w.Line("int row = bi * H;");
            OpenChannels(w, c, vec, lanes, needsFresh: false);
            w.Line(scalar
                ? "w[row + h] = d[h] * k[row + h]; // D·k[t]"
                : $"({vec}.LoadUnsafe(ref dr, (nuint)h) * {vec}.LoadUnsafe(ref kr, (nuint)(row + h))).StoreUnsafe(ref wr, (nuint)(row + h)); // D·k[t]");
            w.Close();
            w.Open("for (int j = 0; j < taps; j++)");
            w.Line("int at = (bi * ShiftTaps + (slot - j < 0 ? slot - j + ShiftTaps : slot - j)) * H; // k[t-j] in the ring");
            OpenChannels(w, c, vec, lanes, needsFresh: true);
            if (scalar)
                w.Line("w[row + h] += ks[j * H + h] * ring[at + h];");
            else
            {
                w.Line($"{vec}<float> acc = {vec}.LoadUnsafe(ref wr, (nuint)(row + h));");
                w.Line($"{Blend(c, vec, lanes, $"{vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref ksr, (nuint)(j * H + h)), {vec}.LoadUnsafe(ref ringr, (nuint)(at + h)), acc)", "acc")}.StoreUnsafe(ref wr, (nuint)(row + h));");
            }
            w.Close();
            w.Close();
            OpenChannels(w, c, vec, lanes, needsFresh: true);
            if (scalar)
                w.Line("w[row + h] *= v[row + h];");
            else
            {
                w.Line($"{vec}<float> acc = {vec}.LoadUnsafe(ref wr, (nuint)(row + h));");
                w.Line($"{Blend(c, vec, lanes, $"(acc * {vec}.LoadUnsafe(ref vr, (nuint)(row + h)))", "acc")}.StoreUnsafe(ref wr, (nuint)(row + h));");
            }
            w.Close();
            w.Close();
        });
        w.Close();
        w.Line();
    }

    private static void WriteDiagStep(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// mixer.diag on one frame, times q, per H3-SPEC.md \"Streaming\": for every mode n, s[b,n,h] ← dA·s + dB·w[b,h] (complex,");
        w.Line($"/// {c.Modes} mode{(c.Modes == 1 ? "" : "s")}), then m[b,h] = q[b,h]·(2·Re Σ_n C·s[b,n,h] + D[h]·w[b,h]). Modes outer, channels inner, the sum");
        w.Line("/// kept in <paramref name=\"y\"/> [H], so the coefficients and the state are read front to back.");
        w.Line("/// </summary>");
        w.Open("private static void DiagStep(ReadOnlySpan<float> w, ReadOnlySpan<float> q, ReadOnlySpan<float> coefficients, ReadOnlySpan<float> d, Span<float> sRe, Span<float> sIm, Span<float> y, Span<float> m, int batch)");
        w.Line("const int MH = Modes * H;");
        KernelEmitter.WriteRefs(w, ("w", "batch * H"), ("q", "batch * H"), ("coefficients", "6 * MH"), ("d", "H"), ("sRe", "batch * MH"), ("sIm", "batch * MH"), ("y", "H"), ("m", "batch * H"));
        w.Line("ref float dARe = ref coefficientsr, dAIm = ref Unsafe.Add(ref coefficientsr, MH), dBRe = ref Unsafe.Add(ref coefficientsr, 2 * MH);");
        w.Line("ref float dBIm = ref Unsafe.Add(ref coefficientsr, 3 * MH), cRe = ref Unsafe.Add(ref coefficientsr, 4 * MH), cIm = ref Unsafe.Add(ref coefficientsr, 5 * MH);");
        WriteWidths(w, c, (vec, lanes) =>
        {
            bool scalar = lanes == 1;
            w.Open("for (int bi = 0; bi < batch; bi++)");
            w.Line("int row = bi * H;");
            w.Line("y.Slice(0, H).Clear();");
            w.Open("for (int n = 0; n < Modes; n++)");
            w.Line("int stateRow = bi * MH + n * H, at = n * H;");
            OpenChannels(w, c, vec, lanes, needsFresh: true);
            if (scalar)
            {
                w.Lines(
                    "float ar = Unsafe.Add(ref dARe, at + h), ai = Unsafe.Add(ref dAIm, at + h), re = sRe[stateRow + h], im = sIm[stateRow + h], wv = w[row + h];\n" +
                    "float nre = ar * re - ai * im + Unsafe.Add(ref dBRe, at + h) * wv;\n" +
                    "float nim = ar * im + ai * re + Unsafe.Add(ref dBIm, at + h) * wv;\n" +
                    "sRe[stateRow + h] = nre;\n" +
                    "sIm[stateRow + h] = nim;\n" +
                    "y[h] += Unsafe.Add(ref cRe, at + h) * nre - Unsafe.Add(ref cIm, at + h) * nim;");
            }
            else
            {
                w.Lines(
                    "nuint c = (nuint)(at + h), si = (nuint)(stateRow + h);\n" +
                    $"{vec}<float> wv = {vec}.LoadUnsafe(ref wr, (nuint)(row + h));\n" +
                    $"{vec}<float> ar = {vec}.LoadUnsafe(ref dARe, c), ai = {vec}.LoadUnsafe(ref dAIm, c);\n" +
                    $"{vec}<float> re = {vec}.LoadUnsafe(ref sRer, si), im = {vec}.LoadUnsafe(ref sImr, si);\n" +
                    $"{vec}<float> nre = {vec}.MultiplyAddEstimate(ar, re, {vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref dBRe, c), wv, -(ai * im)));\n" +
                    $"{vec}<float> nim = {vec}.MultiplyAddEstimate(ar, im, {vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref dBIm, c), wv, ai * re));\n" +
                    $"{Blend(c, vec, lanes, "nre", "re")}.StoreUnsafe(ref sRer, si);\n" +
                    $"{Blend(c, vec, lanes, "nim", "im")}.StoreUnsafe(ref sImr, si);\n" +
                    $"{vec}<float> yv = {vec}.LoadUnsafe(ref yr, (nuint)h);\n" +
                    $"{Blend(c, vec, lanes, $"{vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref cRe, c), nre, {vec}.MultiplyAddEstimate(-{vec}.LoadUnsafe(ref cIm, c), nim, yv))", "yv")}.StoreUnsafe(ref yr, (nuint)h);");
            }
            w.Close();
            w.Close();
            OpenChannels(w, c, vec, lanes, needsFresh: false);
            w.Line(scalar
                ? "m[row + h] = q[row + h] * (2 * y[h] + d[h] * w[row + h]);"
                : $"({vec}.LoadUnsafe(ref qr, (nuint)(row + h)) * {vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref dr, (nuint)h), {vec}.LoadUnsafe(ref wr, (nuint)(row + h)), {vec}.LoadUnsafe(ref yr, (nuint)h) * 2f)).StoreUnsafe(ref mr, (nuint)(row + h));");
            w.Close();
            w.Close();
        });
        w.Close();
        w.Line();
    }

    private static void WriteConvStep(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// mixer.conv before its SiLU on one frame: y[b,h] = bias[h] + ck[0,h]·m[b,h] + Σ_{1≤j&lt;taps} ck[j,h]·history[b, j-1, h] with");
        w.Line("/// ck[j,h] = weight[h,0,K-1-j] (Forward's order); then m[b] joins the front of the history (the last K-1 values).");
        w.Line("/// </summary>");
        w.Open("private static void ConvStep(ReadOnlySpan<float> m, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> ck, Span<float> history, Span<float> y, int batch, int taps)");
        w.Open("for (int h = 0; h < H; h++)");
        w.Line("for (int j = 0; j < K; j++) ck[j * H + h] = weight[h * K + K - 1 - j];");
        w.Close();
        KernelEmitter.WriteRefs(w, ("m", "batch * H"), ("ck", "K * H"), ("bias", "H"), ("history", "batch * ConvHistory * H"), ("y", "batch * H"));
        WriteWidths(w, c, (vec, lanes) =>
        {
            w.Open("for (int bi = 0; bi < batch; bi++)");
            w.Line("int row = bi * H, historyRow = bi * ConvHistory * H;");
            OpenChannels(w, c, vec, lanes, needsFresh: false);
            w.Lines(lanes == 1
                ? "float acc = bias[h] + ck[h] * m[row + h];\n" +
                  "for (int j = 1; j < taps; j++) acc += ck[j * H + h] * history[historyRow + (j - 1) * H + h];\n" +
                  "y[row + h] = acc;"
                : $"{vec}<float> acc = {vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref ckr, (nuint)h), {vec}.LoadUnsafe(ref mr, (nuint)(row + h)), {vec}.LoadUnsafe(ref biasr, (nuint)h));\n" +
                  "for (int j = 1; j < taps; j++)\n" +
                  $"    acc = {vec}.MultiplyAddEstimate({vec}.LoadUnsafe(ref ckr, (nuint)(j * H + h)), {vec}.LoadUnsafe(ref historyr, (nuint)(historyRow + (j - 1) * H + h)), acc);\n" +
                  "acc.StoreUnsafe(ref yr, (nuint)(row + h));");
            w.Close();
            w.Close();
        });
        if (c.K > 1)
        {
            w.Open("for (int b = 0; b < batch; b++)");
            w.Line("Span<float> past = history.Slice(b * ConvHistory * H, ConvHistory * H);");
            if (c.K > 2) w.Line("past.Slice(0, (ConvHistory - 1) * H).CopyTo(past.Slice(H)); // older values move back one frame");
            w.Line("m.Slice(b * H, H).CopyTo(past);");
            w.Close();
        }
        w.Close();
        w.Line();
    }
}
