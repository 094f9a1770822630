using System.Collections.Generic;
using H3.Generator.Parsing;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints the training half of the kernel class: a forward that keeps every activation the backward pass
/// needs, one <c>Layer{i}Backward</c> per block written as its forward in exact reverse, and the backward
/// kernels (matrix-product gradients, LayerNorm, GELU, SiLU, SSM convolutions and the SSM kernels'
/// parameter gradients). Backward only accumulates (+=) into the gradient vector.
/// </summary>
internal static class TrainingEmitter
{
    public static void Emit(SourceWriter w, H3Config c)
    {
        WriteLayout(w, c);
        WriteForward(w, c);
        for (int i = 0; i < c.L; i++) WriteLayerForward(w, c, i);
        WriteBackward(w, c);
        for (int i = 0; i < c.L; i++) WriteLayerBackward(w, c, i);
        var seen = new HashSet<(long, long)>();
        foreach (var s in c.DenseShapes())
            if (seen.Add(s))
            {
                GemmEmitter.WriteWeightGrad(w, s.In, s.Out);
                GemmEmitter.WriteInputGrad(w, s.In, s.Out);
            }
        w.Lines(FixedKernels);
        ActivationEmitter.Emit(w, c, training: true);
    }

    private static void WriteLayout(SourceWriter w, H3Config c)
    {
        w.Line("// ---------------------------------------------------------------------------------------------");
        w.Line("// Training. The workspace slab holds, per layer, every activation its backward needs, then the");
        w.Line("// model input, the final LayerNorm's input and statistics, and the gradient scratch.");
        w.Line("// ---------------------------------------------------------------------------------------------");
        w.Line();
        w.Line($"/// <summary>Residual dropout probability p.</summary>");
        w.Line($"public const float P = {Float(c.P)};");
        w.Line($"/// <summary>Embedding dropout probability p_e (on x right after the input projection).</summary>");
        w.Line($"public const float PE = {Float(c.EmbedP)};");
        w.Line();
        w.Line("/// <summary>Floats one layer saves for rows = batch·T: 15 [rows, H] + 2 [rows, F] + 4 [rows] + its SSM/conv kernels.</summary>");
        w.Line("public static long LayerFloats(long rows) => rows * (15L * H + 2L * F + 4) + (long)ShiftTaps * H + (long)T * H + (long)K * H;");
        w.Line();
        w.Line("/// <summary>Floats of a training workspace for <paramref name=\"batch\"/> windows.</summary>");
        w.Line("public static long WorkspaceLength(int batch)");
        w.Line("{");
        w.Line("    long rows = (long)batch * T;");
        w.Line("    return L * LayerFloats(rows) + rows * (E + 2L * H + 2) + rows * (5L * H + F) + (long)ShiftTaps * H + (long)T * H + (long)K * H");
        w.Line("        + PackLength + 2L * H;");
        w.Line("}");
        w.Line();
        w.Line("/// <summary>The activations layer <c>layer</c> keeps for its backward pass.</summary>");
        w.Open("private readonly ref struct Saved");
        w.Line("public readonly Span<float> Xin, Z, Q, Key, Value, Shift, W, Yd, M, ConvPre, Conv, Mask1, Xmid, Z2, Mask2, H1, G,");
        w.Line("    Mean1, Rstd1, Mean2, Rstd2, ShiftKernel, DiagKernel, ConvKernel;");
        w.Line();
        w.Open("public Saved(Span<float> slab, int rows, int layer)");
        w.Line("int n = rows * H, o = (int)(layer * LayerFloats(rows));");
        foreach (string name in new[] { "Xin", "Z", "Q", "Key", "Value", "Shift", "W", "Yd", "M", "ConvPre", "Conv", "Mask1", "Xmid", "Z2", "Mask2" })
            w.Line($"{name} = slab.Slice(o, n); o += n;");
        w.Line("H1 = slab.Slice(o, rows * F); o += rows * F;");
        w.Line("G = slab.Slice(o, rows * F); o += rows * F;");
        foreach (string name in new[] { "Mean1", "Rstd1", "Mean2", "Rstd2" })
            w.Line($"{name} = slab.Slice(o, rows); o += rows;");
        w.Line("ShiftKernel = slab.Slice(o, ShiftTaps * H); o += ShiftTaps * H;");
        w.Line("DiagKernel = slab.Slice(o, T * H); o += T * H;");
        w.Line("ConvKernel = slab.Slice(o, K * H);");
        w.Close();
        w.Close();
        w.Line();
        w.Line("/// <summary>Everything after the layers: the saved input and final LayerNorm, and the gradient scratch.</summary>");
        w.Open("private readonly ref struct Shared");
        w.Line("public readonly Span<float> Input, X, EmbedMask, MeanF, RstdF, DX, D1, D2, D3, D4, DF, DShiftKernel, DDiagKernel, DConvKernel, Pack, ConvSkip, ConvSkipGrad;");
        w.Line();
        w.Open("public Shared(Span<float> slab, int rows)");
        w.Line("int n = rows * H, o = (int)(L * LayerFloats(rows));");
        w.Line("Input = slab.Slice(o, rows * E); o += rows * E;");
        w.Line("X = slab.Slice(o, n); o += n;");
        w.Line("EmbedMask = slab.Slice(o, n); o += n;");
        w.Line("MeanF = slab.Slice(o, rows); o += rows;");
        w.Line("RstdF = slab.Slice(o, rows); o += rows;");
        foreach (string name in new[] { "DX", "D1", "D2", "D3", "D4" })
            w.Line($"{name} = slab.Slice(o, n); o += n;");
        w.Line("DF = slab.Slice(o, rows * F); o += rows * F;");
        w.Line("DShiftKernel = slab.Slice(o, ShiftTaps * H); o += ShiftTaps * H;");
        w.Line("DDiagKernel = slab.Slice(o, T * H); o += T * H;");
        w.Line("DConvKernel = slab.Slice(o, K * H); o += K * H;");
        w.Line("Pack = slab.Slice(o, PackLength); o += PackLength;");
        w.Line("ConvSkip = slab.Slice(o, H); o += H;     // zeros: the short convolution has no skip term D");
        w.Line("ConvSkipGrad = slab.Slice(o, H);          // its (discarded) gradient");
        w.Close();
        w.Close();
        w.Line();
    }

    private static void WriteForward(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// Training forward: like <see cref=\"Forward\"/>, keeping every activation in the slab. Writes the final LayerNorm at every");
        w.Line("/// frame ([batch, T, H], <paramref name=\"sequence\"/>) or at the last frame ([batch, H]); then, as in Forward, the last block's");
        w.Line("/// tail runs on the last frames only. Dropout masks come from <paramref name=\"rng\"/> when <paramref name=\"training\"/>.");
        w.Line("/// </summary>");
        w.Open("public static void TrainForward(ReadOnlySpan<float> p, ReadOnlySpan<float> input, Span<float> output, int batch, Span<float> slab, bool sequence, bool training, ref global::H3.H3Random rng)");
        w.Line("int rows = batch * T;");
        w.Line("var s = new Shared(slab, rows);");
        w.Line("input.Slice(0, rows * E).CopyTo(s.Input);");
        w.Line("s.ConvSkip.Clear();");
        if (c.HasInputProjection)
        {
            w.Line("// input_proj: x = u·Wᵀ + b");
            w.Line($"Linear_{c.E}x{c.H}(s.Input, rows, p.Slice(InputProjWeight, H * E), p.Slice(InputProjBias, H), s.X, accumulate: false, s.Pack);");
        }
        else
        {
            w.Line("s.Input.CopyTo(s.X); // E == H: x = u");
        }
        if (c.EmbedP > 0f)
        {
            w.Line("// embedding dropout: x = Dropout_pe(x)");
            w.Line("DropoutMask(s.EmbedMask, training, PE, ref rng);");
            w.Line("TensorPrimitives.Multiply(s.X, s.EmbedMask, s.X);");
        }
        for (int i = 0; i < c.L; i++)
            w.Line(i == c.L - 1
                ? $"Layer{i}TrainForward(p, new Saved(slab, rows, {i}), s, batch, training, lastFrameOnly: !sequence, ref rng);"
                : $"Layer{i}TrainForward(p, new Saved(slab, rows, {i}), s, batch, training, lastFrameOnly: false, ref rng);");
        w.Line("// final_norm over every frame, or over the last frames the last block left compact in s.X (its input and statistics");
        w.Line("// are kept for the backward pass)");
        w.Line("LayerNormSave(s.X, sequence ? rows : batch, p.Slice(FinalNormWeight, H), p.Slice(FinalNormBias, H), output, s.MeanF, s.RstdF);");
        w.Close();
        w.Line();
    }

    private static void WriteLayerForward(SourceWriter w, H3Config c, int i)
    {
        string L(string s) => "L" + Int(i) + "_" + s;
        string hh = $"Linear_{c.H}x{c.H}";
        w.Line("/// <summary>");
        w.Line($"/// layers.{i} in training: the block of <see cref=\"Layer{i}Forward\"/>, keeping its activations in <paramref name=\"a\"/>. The mixer runs");
        w.Line("/// on all rows; with <paramref name=\"lastFrameOnly\"/> (the last block, last-frame output) the tail after it runs on each window's");
        w.Line("/// last frame only, compact in the first batch rows of its buffers, and leaves those rows of x at the start of s.X.");
        w.Line("/// </summary>");
        w.Open($"private static void Layer{i}TrainForward(ReadOnlySpan<float> p, in Saved a, in Shared s, int batch, bool training, bool lastFrameOnly, ref global::H3.H3Random rng)");
        w.Line("int rows = batch * T;");
        w.Line("s.X.CopyTo(a.Xin);");
        w.Line($"// layers.{i}.norm1: z = LayerNorm(x)");
        w.Line($"LayerNormSave(a.Xin, rows, p.Slice({L("Norm1Weight")}, H), p.Slice({L("Norm1Bias")}, H), a.Z, a.Mean1, a.Rstd1);");
        w.Line($"// layers.{i}.mixer.{{q,k,v}}_proj");
        w.Line($"{hh}(a.Z, rows, p.Slice({L("MixerQProjWeight")}, H * H), p.Slice({L("MixerQProjBias")}, H), a.Q, accumulate: false, s.Pack);");
        w.Line($"{hh}(a.Z, rows, p.Slice({L("MixerKProjWeight")}, H * H), p.Slice({L("MixerKProjBias")}, H), a.Key, accumulate: false, s.Pack);");
        w.Line($"{hh}(a.Z, rows, p.Slice({L("MixerVProjWeight")}, H * H), p.Slice({L("MixerVProjBias")}, H), a.Value, accumulate: false, s.Pack);");
        w.Line($"// layers.{i}.mixer.shift: ks = Ks * k + D·k;  w = ks ⊙ v");
        w.Line($"ShiftKernel(p.Slice({L("MixerShiftB")}, H * N), p.Slice({L("MixerShiftC")}, H * N), a.ShiftKernel);");
        w.Line($"CausalConv(a.Key, a.ShiftKernel, ShiftTaps, p.Slice({L("MixerShiftD")}, H), a.Shift, batch, s.Pack);");
        w.Line("TensorPrimitives.Multiply(a.Shift, a.Value, a.W);");
        w.Line($"// layers.{i}.mixer.diag: yd = Kd * w + D·w;  m = q ⊙ yd");
        w.Line($"DiagKernel(p.Slice({L("MixerDiagLogDt")}, H), p.Slice({L("MixerDiagInvAReal")}, H * Modes), p.Slice({L("MixerDiagAImag")}, H * Modes),");
        w.Line($"    p.Slice({L("MixerDiagB")}, H * N), p.Slice({L("MixerDiagC")}, H * N), a.DiagKernel);");
        w.Line($"CausalConv(a.W, a.DiagKernel, T, p.Slice({L("MixerDiagD")}, H), a.Yd, batch, s.Pack);");
        w.Line("TensorPrimitives.Multiply(a.Q, a.Yd, a.M);");
        string m = "a.M";
        if (c.K > 0)
        {
            w.Line($"// layers.{i}.mixer.conv: m = SiLU(conv(m) + bias)");
            w.Line($"ShortConv(a.M, p.Slice({L("MixerConvWeight")}, H * K), p.Slice({L("MixerConvBias")}, H), a.ConvKernel, a.ConvPre, batch);");
            w.Line("a.ConvPre.CopyTo(a.Conv);");
            w.Line("SiluRows(a.Conv, rows);");
            m = "a.Conv";
        }
        w.Line("// The tail: on every row, or with lastFrameOnly on the last frames alone (no other row reaches the output).");
        w.Line($"int n = rows;");
        w.Line($"Span<float> x = s.X, m = {m};");
        w.Open("if (lastFrameOnly)");
        w.Line("GatherLastFrames(m, batch, s.D2);");
        w.Line("GatherLastFrames(s.X, batch, s.D3);");
        w.Line("n = batch;");
        w.Line("m = s.D2.Slice(0, n * H);");
        w.Line("x = s.D3.Slice(0, n * H);");
        w.Close();
        w.Line("Span<float> d1 = s.D1.Slice(0, n * H), mask1 = a.Mask1.Slice(0, n * H), mask2 = a.Mask2.Slice(0, n * H), xmid = a.Xmid.Slice(0, n * H);");
        w.Line($"// layers.{i}.mixer.out_proj, dropout, residual: x += Dropout(m·W_outᵀ + b)");
        w.Line($"{hh}(m, n, p.Slice({L("MixerOutProjWeight")}, H * H), p.Slice({L("MixerOutProjBias")}, H), d1, accumulate: false, s.Pack);");
        w.Line("DropoutMask(mask1, training, P, ref rng);");
        w.Line("TensorPrimitives.MultiplyAdd(d1, mask1, x, x);");
        w.Line("x.CopyTo(xmid);");
        w.Line($"// layers.{i}.norm2, mlp, dropout, residual: x += Dropout(fc2(GELU(fc1(LayerNorm(x)))))");
        w.Line($"LayerNormSave(xmid, n, p.Slice({L("Norm2Weight")}, H), p.Slice({L("Norm2Bias")}, H), a.Z2, a.Mean2, a.Rstd2);");
        w.Line($"Linear_{c.H}x{c.F}(a.Z2, n, p.Slice({L("MlpFc1Weight")}, F * H), p.Slice({L("MlpFc1Bias")}, F), a.H1, accumulate: false, s.Pack);");
        w.Line("a.H1.Slice(0, n * F).CopyTo(a.G);");
        w.Line("GeluRows(a.G, n);");
        w.Line($"Linear_{c.F}x{c.H}(a.G, n, p.Slice({L("MlpFc2Weight")}, H * F), p.Slice({L("MlpFc2Bias")}, H), d1, accumulate: false, s.Pack);");
        w.Line("DropoutMask(mask2, training, P, ref rng);");
        w.Line("TensorPrimitives.MultiplyAdd(d1, mask2, x, x);");
        w.Line("if (lastFrameOnly) x.CopyTo(s.X); // the last frames' x, compact: final_norm's input");
        w.Close();
        w.Line();
    }

    private static void WriteBackward(SourceWriter w, H3Config c)
    {
        w.Line("/// <summary>");
        w.Line("/// Backward of <see cref=\"TrainForward\"/>: accumulates (+=) every parameter gradient into <paramref name=\"g\"/> and,");
        w.Line("/// when <paramref name=\"dInput\"/> is not empty, writes the input gradient [batch, T, E].");
        w.Line("/// </summary>");
        w.Open("public static void TrainBackward(ReadOnlySpan<float> p, Span<float> g, ReadOnlySpan<float> dOut, Span<float> dInput, int batch, Span<float> slab, bool sequence)");
        w.Line("int rows = batch * T;");
        w.Line("var s = new Shared(slab, rows);");
        w.Line("// Gradient at the final LayerNorm: every frame, or (!sequence) the last frames, compact like its saved input.");
        w.Line("int n = sequence ? rows : batch;");
        w.Line("dOut.Slice(0, n * H).CopyTo(s.D1);");
        w.Line("s.DX.Slice(0, n * H).Clear();");
        w.Line("LayerNormBackward(s.D1, s.X, s.MeanF, s.RstdF, p.Slice(FinalNormWeight, H), s.DX, g.Slice(FinalNormWeight, H), g.Slice(FinalNormBias, H), n);");
        for (int i = c.L - 1; i >= 0; i--)
            w.Line($"Layer{i}Backward(p, g, new Saved(slab, rows, {i}), s, batch, lastFrameOnly: {(i == c.L - 1 ? "!sequence" : "false")});");
        if (c.EmbedP > 0f)
        {
            w.Line("// embedding dropout");
            w.Line("TensorPrimitives.Multiply(s.DX, s.EmbedMask, s.DX);");
        }
        if (c.HasInputProjection)
        {
            w.Line("// input_proj: dW += dxᵀ·u, db += Σ dx, du = dx·W");
            w.Line($"WeightGrad_{c.E}x{c.H}(s.DX, s.Input, rows, g.Slice(InputProjWeight, H * E), g.Slice(InputProjBias, H), s.Pack);");
            w.Open("if (!dInput.IsEmpty)");
            w.Line($"InputGrad_{c.E}x{c.H}(s.DX, rows, p.Slice(InputProjWeight, H * E), dInput, accumulate: false, s.Pack);");
            w.Close();
        }
        else
        {
            w.Line("if (!dInput.IsEmpty) s.DX.CopyTo(dInput); // E == H: u = x");
        }
        w.Close();
        w.Line();
    }

    private static void WriteLayerBackward(SourceWriter w, H3Config c, int i)
    {
        string L(string s) => "L" + Int(i) + "_" + s;
        string ih = $"InputGrad_{c.H}x{c.H}";
        string wh = $"WeightGrad_{c.H}x{c.H}";
        w.Line("/// <summary>");
        w.Line($"/// layers.{i} backward, <see cref=\"Layer{i}TrainForward\"/> in exact reverse. On entry s.DX is the gradient at the");
        w.Line("/// block's output (with <paramref name=\"lastFrameOnly\"/>: at the last frames, compact); on exit, at its input, every row.");
        w.Line("/// Parameter gradients accumulate into g.");
        w.Line("/// </summary>");
        w.Open($"private static void Layer{i}Backward(ReadOnlySpan<float> p, Span<float> g, in Saved a, in Shared s, int batch, bool lastFrameOnly)");
        w.Line("int rows = batch * T, n = lastFrameOnly ? batch : rows;");
        w.Line("Span<float> dx = s.DX.Slice(0, n * H), d1 = s.D1.Slice(0, n * H), mask1 = a.Mask1.Slice(0, n * H), mask2 = a.Mask2.Slice(0, n * H);");
        w.Line($"// x += Dropout(fc2(GELU(fc1(LN2(x)))))  (layers.{i}.mlp, norm2)");
        w.Line("TensorPrimitives.Multiply(dx, mask2, d1);");
        w.Line($"WeightGrad_{c.F}x{c.H}(d1, a.G, n, g.Slice({L("MlpFc2Weight")}, H * F), g.Slice({L("MlpFc2Bias")}, H), s.Pack);");
        w.Line($"InputGrad_{c.F}x{c.H}(d1, n, p.Slice({L("MlpFc2Weight")}, H * F), s.DF, accumulate: false, s.Pack);");
        w.Line("GeluBackwardRows(s.DF, a.H1, n);");
        w.Line($"WeightGrad_{c.H}x{c.F}(s.DF, a.Z2, n, g.Slice({L("MlpFc1Weight")}, F * H), g.Slice({L("MlpFc1Bias")}, F), s.Pack);");
        w.Line($"InputGrad_{c.H}x{c.F}(s.DF, n, p.Slice({L("MlpFc1Weight")}, F * H), s.D2, accumulate: false, s.Pack);");
        w.Line($"LayerNormBackward(s.D2, a.Xmid, a.Mean2, a.Rstd2, p.Slice({L("Norm2Weight")}, H), s.DX, g.Slice({L("Norm2Weight")}, H), g.Slice({L("Norm2Bias")}, H), n);");
        w.Line($"// x += Dropout(out_proj(m))  (layers.{i}.mixer.out_proj)");
        string m = c.K > 0 ? "a.Conv" : "a.M";
        w.Line("TensorPrimitives.Multiply(dx, mask1, d1);");
        w.Line($"Span<float> m = {m};");
        w.Line("if (lastFrameOnly) { GatherLastFrames(m, batch, s.D4); m = s.D4.Slice(0, n * H); }");
        w.Line($"{wh}(d1, m, n, g.Slice({L("MixerOutProjWeight")}, H * H), g.Slice({L("MixerOutProjBias")}, H), s.Pack);");
        w.Open("if (lastFrameOnly)");
        w.Line("// Only the last frames carried gradient through the tail: spread dm and dx over every row (zero elsewhere).");
        w.Line($"{ih}(d1, n, p.Slice({L("MixerOutProjWeight")}, H * H), s.D3, accumulate: false, s.Pack);");
        w.Line("ScatterLastFrames(s.D3, batch, s.D2);");
        w.Line("ScatterLastFrames(dx, batch, s.D1);");
        w.Line("s.D1.CopyTo(s.DX);");
        w.Close();
        w.Line("else");
        w.Line($"    {ih}(d1, rows, p.Slice({L("MixerOutProjWeight")}, H * H), s.D2, accumulate: false, s.Pack);");
        if (c.K > 0)
        {
            w.Line($"// m = SiLU(conv(m) + bias)  (layers.{i}.mixer.conv)");
            w.Line("SiluBackwardRows(s.D2, a.ConvPre, rows);");
            w.Line("s.DConvKernel.Clear();");
            w.Line("CausalConvBackward(s.D2, a.M, a.ConvKernel, K, s.ConvSkip, s.D3, s.DConvKernel, s.ConvSkipGrad, batch, s.Pack);");
            w.Line($"ColumnSums(s.D2, rows, g.Slice({L("MixerConvBias")}, H));");
            w.Line($"ConvKernelBackward(s.DConvKernel, g.Slice({L("MixerConvWeight")}, H * K));");
        }
        else
        {
            w.Line("s.D2.CopyTo(s.D3); // K = 0: no short convolution");
        }
        w.Line($"// m = q ⊙ yd;  yd = Kd * w + D·w  (layers.{i}.mixer.diag)");
        w.Line("TensorPrimitives.Multiply(s.D3, a.Yd, s.D4);   // dq");
        w.Line("TensorPrimitives.Multiply(s.D3, a.Q, s.D1);    // dyd");
        w.Line("s.DDiagKernel.Clear();");
        w.Line($"CausalConvBackward(s.D1, a.W, a.DiagKernel, T, p.Slice({L("MixerDiagD")}, H), s.D2, s.DDiagKernel, g.Slice({L("MixerDiagD")}, H), batch, s.Pack);");
        w.Line($"DiagKernelBackward(s.DDiagKernel, p.Slice({L("MixerDiagLogDt")}, H), p.Slice({L("MixerDiagInvAReal")}, H * Modes), p.Slice({L("MixerDiagAImag")}, H * Modes),");
        w.Line($"    p.Slice({L("MixerDiagB")}, H * N), p.Slice({L("MixerDiagC")}, H * N),");
        w.Line($"    g.Slice({L("MixerDiagLogDt")}, H), g.Slice({L("MixerDiagInvAReal")}, H * Modes), g.Slice({L("MixerDiagAImag")}, H * Modes), g.Slice({L("MixerDiagB")}, H * N), g.Slice({L("MixerDiagC")}, H * N));");
        w.Line($"// w = ks ⊙ v;  ks = Ks * k + D·k  (layers.{i}.mixer.shift)");
        w.Line("TensorPrimitives.Multiply(s.D2, a.Value, s.D3);  // dks");
        w.Line("TensorPrimitives.Multiply(s.D2, a.Shift, s.D2);  // dv");
        w.Line("s.DShiftKernel.Clear();");
        w.Line($"CausalConvBackward(s.D3, a.Key, a.ShiftKernel, ShiftTaps, p.Slice({L("MixerShiftD")}, H), s.D1, s.DShiftKernel, g.Slice({L("MixerShiftD")}, H), batch, s.Pack);");
        w.Line($"ShiftKernelBackward(s.DShiftKernel, p.Slice({L("MixerShiftB")}, H * N), p.Slice({L("MixerShiftC")}, H * N), g.Slice({L("MixerShiftB")}, H * N), g.Slice({L("MixerShiftC")}, H * N));");
        w.Line($"// q, k, v = z·Wᵀ + b  (layers.{i}.mixer.{{q,k,v}}_proj): dq in D4, dk in D1, dv in D2");
        w.Line($"{wh}(s.D4, a.Z, rows, g.Slice({L("MixerQProjWeight")}, H * H), g.Slice({L("MixerQProjBias")}, H), s.Pack);");
        w.Line($"{wh}(s.D1, a.Z, rows, g.Slice({L("MixerKProjWeight")}, H * H), g.Slice({L("MixerKProjBias")}, H), s.Pack);");
        w.Line($"{wh}(s.D2, a.Z, rows, g.Slice({L("MixerVProjWeight")}, H * H), g.Slice({L("MixerVProjBias")}, H), s.Pack);");
        w.Line($"{ih}(s.D4, rows, p.Slice({L("MixerQProjWeight")}, H * H), s.D3, accumulate: false, s.Pack);");
        w.Line($"{ih}(s.D1, rows, p.Slice({L("MixerKProjWeight")}, H * H), s.D3, accumulate: true, s.Pack);");
        w.Line($"{ih}(s.D2, rows, p.Slice({L("MixerVProjWeight")}, H * H), s.D3, accumulate: true, s.Pack);");
        w.Line($"// z = LN1(x)  (layers.{i}.norm1); the residual path carries s.DX through unchanged");
        w.Line($"LayerNormBackward(s.D3, a.Xin, a.Mean1, a.Rstd1, p.Slice({L("Norm1Weight")}, H), s.DX, g.Slice({L("Norm1Weight")}, H), g.Slice({L("Norm1Bias")}, H), rows);");
        w.Close();
        w.Line();
    }

    // Shape-generic training kernels: they use only the class's shape constants.
    private const string FixedKernels = """
/// <summary>LayerNorm that also keeps each row's mean and 1/std for the backward pass.</summary>
private static void LayerNormSave(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y, Span<float> mean, Span<float> rstd)
{
    for (int r = 0; r < rows; r++)
    {
        ReadOnlySpan<float> xr = x.Slice(r * H, H);
        Span<float> yr = y.Slice(r * H, H);
        float mu = TensorPrimitives.Sum(xr) / H;
        TensorPrimitives.Subtract(xr, mu, yr);
        float rs = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(yr) / H + 1e-5f);
        TensorPrimitives.Multiply(yr, rs, yr);
        TensorPrimitives.MultiplyAdd(yr, gamma, beta, yr);
        mean[r] = mu;
        rstd[r] = rs;
    }
}

/// <summary>
/// LayerNorm backward per row, with x̂ = (x - mean)·rstd and dx̂ = dy ⊙ γ:
/// dx += rstd·(dx̂ - mean(dx̂) - x̂·mean(dx̂ ⊙ x̂));  dγ += Σ_r dy ⊙ x̂;  dβ += Σ_r dy.
/// </summary>
private static void LayerNormBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> gamma, Span<float> dx, Span<float> dGamma, Span<float> dBeta, int rows)
{
    for (int r = 0; r < rows; r++)
    {
        ReadOnlySpan<float> dyr = dy.Slice(r * H, H), xr = x.Slice(r * H, H);
        Span<float> dxr = dx.Slice(r * H, H);
        float mu = mean[r], rs = rstd[r];
        float sumG = 0f, sumGX = 0f;
        for (int h = 0; h < H; h++)
        {
            float xhat = (xr[h] - mu) * rs;
            float gh = dyr[h] * gamma[h];
            sumG += gh;
            sumGX += gh * xhat;
            dGamma[h] += dyr[h] * xhat;
            dBeta[h] += dyr[h];
        }
        float meanG = sumG / H, meanGX = sumGX / H;
        for (int h = 0; h < H; h++)
        {
            float xhat = (xr[h] - mu) * rs;
            dxr[h] += rs * (dyr[h] * gamma[h] - meanG - xhat * meanGX);
        }
    }
}


/// <summary>sums[c] += Σ_r m[r, c] over rows of width sums.Length.</summary>
private static void ColumnSums(ReadOnlySpan<float> m, int rows, Span<float> sums)
{
    int width = sums.Length;
    for (int r = 0; r < rows; r++) TensorPrimitives.Add(sums, m.Slice(r * width, width), sums);
}

/// <summary>full[b, T-1, :] = compact[b, :] and every other row of full zero: a gradient that reached the last frames only.</summary>
private static void ScatterLastFrames(ReadOnlySpan<float> compact, int batch, Span<float> full)
{
    full.Slice(0, batch * T * H).Clear();
    for (int bi = 0; bi < batch; bi++) compact.Slice(bi * H, H).CopyTo(full.Slice((bi * T + T - 1) * H, H));
}

/// <summary>
/// Fills a dropout mask: 0 with probability p, else 1/(1-p) (inverted dropout). All ones when not
/// training or p = 0, so the backward pass is the same code either way.
/// </summary>
private static void DropoutMask(Span<float> mask, bool training, float p, ref global::H3.H3Random rng)
{
    if (!training || p == 0f)
    {
        mask.Fill(1f);
        return;
    }
    float keep = 1f / (1f - p);
    for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextSingle() < p ? 0f : keep;
}

/// <summary>mixer.conv.weight gradient from the transposed kernel's: dweight[h, 0, K-1-j] += dck[j, h].</summary>
private static void ConvKernelBackward(ReadOnlySpan<float> dck, Span<float> dWeight)
{
    for (int h = 0; h < H; h++)
        for (int j = 0; j < K; j++)
            dWeight[h * K + K - 1 - j] += dck[j * H + h];
}

/// <summary>
/// mixer.shift kernel backward, from Ks[j, h] = Σ_m B[h, m]·C[h, m+j]:
/// dB[h, m] += Σ_j dKs[j, h]·C[h, m+j];  dC[h, m+j] += dKs[j, h]·B[h, m]  (j &lt; ShiftTaps, m + j &lt; N).
/// </summary>
private static void ShiftKernelBackward(ReadOnlySpan<float> dKs, ReadOnlySpan<float> bParam, ReadOnlySpan<float> cParam, Span<float> dB, Span<float> dC)
{
    for (int h = 0; h < H; h++)
    {
        for (int m = 0; m < N; m++)
        {
            double sum = 0;
            for (int j = 0; j < ShiftTaps && m + j < N; j++) sum += (double)dKs[j * H + h] * cParam[h * N + m + j];
            dB[h * N + m] += (float)sum;
        }
        for (int q = 0; q < N; q++)
        {
            double sum = 0;
            for (int j = 0; j < ShiftTaps && j <= q; j++) sum += (double)dKs[j * H + h] * bParam[h * N + q - j];
            dC[h * N + q] += (float)sum;
        }
    }
}

/// <summary>
/// mixer.diag kernel backward (float64). With x = dt·A/2, dA = (1+x)/(1-x), dB = B·dt/(1-x), P = C·dB and
/// Kd[l] = 2·Re Σ_n P·dA^l, the loss is L = Σ_n 2·Re f_n with f_n holomorphic in each complex parameter, so
/// for z = a + ib: ∂L/∂a = 2·Re f'(z), ∂L/∂b = -2·Im f'(z). Using S = Σ_l dKd[l]·dA^l and
/// S' = Σ_l dKd[l]·l·dA^(l-1):
///   f'(C) = dB·S,  f'(B) = C·S·dt/(1-x),  df/dx = (C·S·B·dt + 2·P·S')/(1-x)²,  f'(A) = df/dx·dt/2,
///   ∂L/∂dt = Σ_n 2·Re(C·S·B/(1-x) + df/dx·A/2);  log_dt, inv_A_real by the chain rule (dt = e^log_dt, Re A = -e^inv_A_real).
/// </summary>
private static void DiagKernelBackward(ReadOnlySpan<float> dKd, ReadOnlySpan<float> logDt, ReadOnlySpan<float> invAReal, ReadOnlySpan<float> aImag, ReadOnlySpan<float> bParam, ReadOnlySpan<float> cParam,
    Span<float> gLogDt, Span<float> gInvAReal, Span<float> gAImag, Span<float> gB, Span<float> gC)
{
    for (int h = 0; h < H; h++)
    {
        double dt = Math.Exp(logDt[h]);
        double gDt = 0;
        for (int n = 0; n < Modes; n++)
        {
            int i = h * Modes + n;
            double ar = -Math.Exp(invAReal[i]), ai = aImag[i];
            double xr = ar * dt / 2, xi = ai * dt / 2;
            double omr = 1 - xr, omi = -xi;                                // 1 - x
            double den = omr * omr + omi * omi;
            double ir = omr / den, ii = -omi / den;                        // 1/(1-x)
            double dar = (1 + xr) * ir - xi * ii, dai = (1 + xr) * ii + xi * ir; // dA
            double br = bParam[2 * i], bi = bParam[2 * i + 1];
            double cr = cParam[2 * i], ci = cParam[2 * i + 1];
            double dbr = (br * ir - bi * ii) * dt, dbi = (br * ii + bi * ir) * dt; // dB
            double pr = cr * dbr - ci * dbi, pi = cr * dbi + ci * dbr;     // P = C·dB
            // S = Σ_l g_l·dA^l, S' = Σ_l g_l·l·dA^(l-1)
            double sr = 0, si = 0, spr = 0, spi = 0, powr = 1, powi = 0, prevr = 0, previ = 0;
            for (int l = 0; l < T; l++)
            {
                double gl = dKd[l * H + h];
                sr += gl * powr; si += gl * powi;
                spr += gl * l * prevr; spi += gl * l * previ;
                prevr = powr; previ = powi;
                double nr = powr * dar - powi * dai;
                powi = powr * dai + powi * dar;
                powr = nr;
            }
            // f'(C) = dB·S
            double fcr = dbr * sr - dbi * si, fci = dbr * si + dbi * sr;
            gC[2 * i] += (float)(2 * fcr);
            gC[2 * i + 1] += (float)(-2 * fci);
            // C·S
            double csr = cr * sr - ci * si, csi = cr * si + ci * sr;
            // f'(B) = C·S·dt/(1-x)
            double fbr = (csr * ir - csi * ii) * dt, fbi = (csr * ii + csi * ir) * dt;
            gB[2 * i] += (float)(2 * fbr);
            gB[2 * i + 1] += (float)(-2 * fbi);
            // df/dx = (C·S·B·dt + 2·P·S')/(1-x)²
            double csbr = (csr * br - csi * bi) * dt, csbi = (csr * bi + csi * br) * dt;
            double numr = csbr + 2 * (pr * spr - pi * spi), numi = csbi + 2 * (pr * spi + pi * spr);
            double i2r = ir * ir - ii * ii, i2i = 2 * ir * ii;             // 1/(1-x)²
            double fxr = numr * i2r - numi * i2i, fxi = numr * i2i + numi * i2r;
            // f'(A) = df/dx·dt/2 → Re A (then inv_A_real) and Im A
            double far = fxr * dt / 2, fai = fxi * dt / 2;
            gInvAReal[i] += (float)(2 * far * ar);                         // ∂Re A/∂inv_A_real = Re A
            gAImag[i] += (float)(-2 * fai);
            // ∂f/∂dt (dt real): C·S·B/(1-x) + df/dx·A/2
            double t1r = (csr * br - csi * bi) * ir - (csr * bi + csi * br) * ii;
            double t2r = (fxr * ar - fxi * ai) / 2;
            gDt += 2 * (t1r + t2r);
        }
        gLogDt[h] += (float)(gDt * dt);
    }
}
""";
}
