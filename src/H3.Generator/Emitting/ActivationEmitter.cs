using System.Collections.Generic;
using H3.Generator.Parsing;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints the activations and their derivatives as one fused pass per row: GELU_tanh over rows of F and SiLU over rows
/// of H, forward (in place) and backward (d ⊙= f'(pre)). Each element is computed by the same vector code whatever
/// its position: a row's last vector starts at width − lanes and may overlap the previous one, and it is loaded before
/// the row is written, so the overlapping lanes are recomputed from the same inputs. A window's results therefore never
/// depend on its batch.
/// </summary>
internal static class ActivationEmitter
{
    private sealed record Activation(string Name, string Width, string Summary, string Forward, string Scalar);

    // GELU_tanh(a) = 0.5·a·(1 + tanh(u)) = a·σ(2u), 2u = a·(c1 + c3·a²); its slope is s + a·s·(1 − s)·(c1 + 3·c3·a²), s = σ(2u).
    // SiLU(a) = a·σ(a); its slope is s·(1 + a·(1 − s)), s = σ(a).
    private static readonly Activation[] Activations =
    {
        new("Gelu", "F", "GELU_tanh: 0.5·a·(1 + tanh(u)) = a·σ(2u) with u = √(2/π)·(a + 0.044715·a³)", "Gelu", "GeluScalar"),
        new("Silu", "H", "SiLU: a·σ(a)", "Silu", "SiluScalar"),
    };

    private const string Constants = """
/// <summary>2·√(2/π) and 2·√(2/π)·0.044715: GELU_tanh's 2u = a·(C1 + C3·a²).</summary>
private const float C1 = 1.5957691216057308f, C3 = 1.5957691216057308f * 0.044715f;
""";

    public static void Emit(SourceWriter w, H3Config c, bool training)
    {
        if (!training) w.Lines(Constants);
        foreach (var (vec, lanes) in new[] { ("Vector256", 8), ("Vector128", 4) })
        {
            string v = $"{vec}<float>";
            if (!training)
            {
                w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
                w.Line($"private static {v} Gelu({v} a) => a / ({v}.One + {vec}.Exp(-(a * ({vec}.Create(C1) + {vec}.Create(C3) * a * a))));");
                w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
                w.Line($"private static {v} Silu({v} a) => a / ({v}.One + {vec}.Exp(-a));");
            }
            else
            {
                w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
                w.Open($"private static {v} GeluSlope({v} a)");
                w.Line($"{v} a2 = a * a, s = {v}.One / ({v}.One + {vec}.Exp(-(a * ({vec}.Create(C1) + {vec}.Create(C3) * a2))));");
                w.Line($"return s + a * s * ({v}.One - s) * ({vec}.Create(C1) + {vec}.Create(3f * C3) * a2);");
                w.Close();
                w.Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
                w.Open($"private static {v} SiluSlope({v} a)");
                w.Line($"{v} s = {v}.One / ({v}.One + {vec}.Exp(-a));");
                w.Line($"return s * ({v}.One + a * ({v}.One - s));");
                w.Close();
            }
        }
        if (!training)
        {
            w.Line("private static float GeluScalar(float a) => a / (1f + MathF.Exp(-(a * (C1 + C3 * a * a))));");
            w.Line("private static float SiluScalar(float a) => a / (1f + MathF.Exp(-a));");
        }
        else
        {
            w.Open("private static float GeluSlopeScalar(float a)");
            w.Line("float a2 = a * a, s = 1f / (1f + MathF.Exp(-(a * (C1 + C3 * a2))));");
            w.Line("return s + a * s * (1f - s) * (C1 + 3f * C3 * a2);");
            w.Close();
            w.Open("private static float SiluSlopeScalar(float a)");
            w.Line("float s = 1f / (1f + MathF.Exp(-a));");
            w.Line("return s * (1f + a * (1f - s));");
            w.Close();
        }
        w.Line();
        foreach (Activation act in Activations)
        {
            long width = act.Width == "F" ? c.F : c.H;
            if (!training) WriteRows(w, act, width, backward: false);
            else WriteRows(w, act, width, backward: true);
        }
    }

    private static void WriteRows(SourceWriter w, Activation act, long width, bool backward)
    {
        string name = backward ? $"{act.Name}BackwardRows" : $"{act.Name}Rows";
        w.Line("/// <summary>");
        w.Line(backward
            ? $"/// Backward of {act.Name}Rows: d[r, i] ⊙= the slope of {act.Summary} at pre[r, i], over rows of {act.Width}."
            : $"/// {act.Summary}, in place over rows of {act.Width}.");
        w.Line("/// </summary>");
        w.Line(GemmEmitter.HotKernel);
        w.Open(backward
            ? $"private static void {name}(Span<float> d, ReadOnlySpan<float> pre, int rows)"
            : $"private static void {name}(Span<float> f, int rows)");
        w.Line($"const int W = {Int(width)};");
        if (backward)
        {
            w.Line("ref float dr = ref MemoryMarshal.GetReference(d.Slice(0, rows * W));");
            w.Line("ref float pr = ref MemoryMarshal.GetReference(pre.Slice(0, rows * W));");
        }
        else
            w.Line("ref float fr = ref MemoryMarshal.GetReference(f.Slice(0, rows * W));");
        var paths = new List<(string Vec, int Lanes)>();
        if (width >= 8) paths.Add(("Vector256", 8));
        if (width >= 4) paths.Add(("Vector128", 4));
        string fn = backward ? $"{act.Forward}Slope" : act.Forward;
        for (int p = 0; p < paths.Count; p++)
        {
            var (vec, lanes) = paths[p];
            // W ≥ 8: Vector256 where accelerated, else Vector128 (which runs everywhere); 4 ≤ W < 8: Vector128 alone.
            bool braces = paths.Count > 1;
            if (braces) w.Open(p == 0 ? $"if ({vec}.IsHardwareAccelerated)" : "else");
            w.Open("for (int r = 0; r < rows; r++)");
            if (backward)
            {
                w.Line("ref float dRow = ref Unsafe.Add(ref dr, r * W);");
                w.Line("ref float pRow = ref Unsafe.Add(ref pr, r * W);");
                w.Line($"const int last = W - {lanes};");
                w.Line($"{vec}<float> lastD = {vec}.LoadUnsafe(ref dRow, last), lastP = {vec}.LoadUnsafe(ref pRow, last);");
                w.Line($"for (int i = 0; i < last; i += {lanes}) ({vec}.LoadUnsafe(ref dRow, (nuint)i) * {fn}({vec}.LoadUnsafe(ref pRow, (nuint)i))).StoreUnsafe(ref dRow, (nuint)i);");
                w.Line($"(lastD * {fn}(lastP)).StoreUnsafe(ref dRow, last);");
            }
            else
            {
                w.Line("ref float row = ref Unsafe.Add(ref fr, r * W);");
                w.Line($"const int last = W - {lanes};");
                w.Line($"{vec}<float> tail = {vec}.LoadUnsafe(ref row, last); // read before the row is overwritten");
                w.Line($"for (int i = 0; i < last; i += {lanes}) {fn}({vec}.LoadUnsafe(ref row, (nuint)i)).StoreUnsafe(ref row, (nuint)i);");
                w.Line($"{fn}(tail).StoreUnsafe(ref row, last);");
            }
            w.Close();
            if (braces) w.Close();
        }
        string scalar = backward ? $"{act.Forward}SlopeScalar" : act.Scalar;
        string body = backward
            ? $"for (int i = 0; i < rows * W; i++) Unsafe.Add(ref dr, i) *= {scalar}(Unsafe.Add(ref pr, i));"
            : $"for (int i = 0; i < rows * W; i++) Unsafe.Add(ref fr, i) = {scalar}(Unsafe.Add(ref fr, i));";
        if (paths.Count == 0)
        {
            w.Line($"// W = {width} is narrower than any vector: scalar.");
            w.Line(body);
        }
        w.Close();
        w.Line();
    }
}
