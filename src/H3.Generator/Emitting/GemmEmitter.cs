using System;
using System.Collections.Generic;
using static H3.Generator.Parsing.Format;

namespace H3.Generator.Emitting;

/// <summary>
/// Prints the model's matrix products: the forward <c>Linear_{In}x{Out}</c> (y = x·Wᵀ + b), the input gradient
/// <c>InputGrad_{In}x{Out}</c> (dx = dy·W) and the weight gradient <c>WeightGrad_{In}x{Out}</c> (dW += dyᵀ·x).
/// <para>
/// All three run one register tile: <see cref="TileRows"/> rows of a broadcast operand times two vectors of a
/// contiguous operand, 12 accumulators, so every step issues 12 FMAs for 2 vector loads and 6 broadcasts (enough
/// independent chains to hide the FMA latency on both pipes, and it fits the 16 vector registers of AVX2).
/// </para>
/// <para>
/// The operand that must be contiguous differs: dx = dy·W and dW += dyᵀ·x read W rows and x rows as they are.
/// The forward wants x columns, so it first transposes a panel of up to 2·lanes rows of x (cheap: In·P floats
/// per panel, against Out·In·P multiply-adds) and broadcasts W. It computes the panel's yᵀ and transposes it
/// back, adding into y, so the weights are never repacked: they may change between any two calls.
/// </para>
/// </summary>
internal static class GemmEmitter
{
    /// <summary>Rows of the broadcast operand per register tile.</summary>
    public const int TileRows = 6;

    /// <summary>Floats of the panel scratch every Linear needs: room for xᵀ [In, 16] and yᵀ [Out, 16] of the widest shape.</summary>
    public const string PackLengthExpression = "16 * (H + Math.Max(E, F))";

    private static string V(string vec) => vec.Replace("Vector", "V");

    // ---------------------------------------------------------------------------------------------------------
    // The register tile
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>One tile: acc[a, v] = init(a) + Σ_j A(a, j)·B(j, v), then store(a, v, acc).</summary>
    private sealed class Tile
    {
        public string Vec = "Vector256";
        public int Lanes = 8;
        public int Rows;                                      // broadcast rows (1..TileRows)
        public int Vectors;                                   // contiguous vectors (1 or 2)
        public Func<int, string> RowRef = _ => "";           // declaration of the ref to broadcast row a
        public Func<int, string> Broadcast = _ => "";        // A(a, j) inside the loop
        public string Loop = "";                              // loop header over j
        public Func<int, string> Load = _ => "";             // B(j, v) inside the loop
        public string Advance = "";                           // end of the loop body (pointer bumps), may be empty
        public Func<int, string> Init = _ => "";             // initial accumulator of row a
        public Action<SourceWriter, int, int, string> Store = (_, _, _, _) => { };
    }

    /// <summary>Prints the tile's statements in the current block (callers open a scope for it).</summary>
    private static void WriteTileBody(SourceWriter w, Tile t)
    {
        string vec = t.Vec;
        for (int a = 0; a < t.Rows; a++)
            if (t.RowRef(a) is { Length: > 0 } rowRef) w.Line(rowRef);
        var decl = new List<string>();
        for (int a = 0; a < t.Rows; a++)
            for (int v = 0; v < t.Vectors; v++)
                decl.Add($"a{a}{v} = {(v == 0 ? t.Init(a) : $"a{a}0")}");
        w.Line($"{vec}<float> {string.Join(", ", decl)};");
        w.Open(t.Loop);
        for (int v = 0; v < t.Vectors; v++) w.Line($"{vec}<float> b{v} = {t.Load(v)};");
        for (int a = 0; a < t.Rows; a++)
        {
            w.Line($"{(a == 0 ? $"{vec}<float> " : "")}s = {vec}.Create({t.Broadcast(a)});");
            for (int v = 0; v < t.Vectors; v++)
                w.Line($"a{a}{v} = {vec}.MultiplyAddEstimate(s, b{v}, a{a}{v});");
        }
        if (t.Advance.Length > 0) w.Line(t.Advance);
        w.Close();
        for (int a = 0; a < t.Rows; a++)
            for (int v = 0; v < t.Vectors; v++)
                t.Store(w, a, v, $"a{a}{v}");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Forward: y (+)= x·Wᵀ + bias
    // ---------------------------------------------------------------------------------------------------------

    public static void WriteLinear(SourceWriter w, long inDim, long outDim)
    {
        string name = $"Linear_{inDim}x{outDim}";
        w.Line("/// <summary>");
        w.Line($"/// y[r, o] (+)= Σ_i x[r, i]·W[o, i] + bias[o]: x [rows, {inDim}], W [{outDim}, {inDim}] (PyTorch layout), y [rows, {outDim}].");
        w.Line("/// Rows run in panels of transposed rows through the register tile; <paramref name=\"pack\"/> is panel scratch (PackLength).");
        w.Line("/// Every (row, output) sum runs bias first, then i in order, whatever the panel: a window's result never depends on its batch.");
        w.Line("/// </summary>");
        w.Open($"private static void {name}(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool accumulate, Span<float> pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        w.Line("// Every length is checked once here; the loops below index inside these lengths with Unsafe.Add.");
        w.Line("ref float xr = ref MemoryMarshal.GetReference(x.Slice(0, rows * In));");
        w.Line("ref float wr = ref MemoryMarshal.GetReference(w.Slice(0, Out * In));");
        w.Line("ref float br = ref MemoryMarshal.GetReference(bias.Slice(0, Out));");
        w.Line("ref float yr = ref MemoryMarshal.GetReference(y.Slice(0, rows * Out));");
        w.Line("ref float pr = ref MemoryMarshal.GetReference(pack.Slice(0, 16 * (In + Out)));");
        w.Line("if (Vector256.IsHardwareAccelerated)");
        w.Line($"    {name}_V256(ref xr, rows, ref wr, ref br, ref yr, accumulate, ref pr);");
        w.Line("else");
        w.Line($"    {name}_V128(ref xr, rows, ref wr, ref br, ref yr, accumulate, ref pr);");
        w.Close();
        w.Line();
        WriteLinearWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteLinearWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteLinearWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        int panel = 2 * lanes;
        long blocks = outDim / TileRows, rest = outDim % TileRows;
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: panels of {panel} rows. Per panel, xᵀ [In, {panel}] is packed, then each block of {TileRows} outputs");
        w.Line($"/// accumulates yᵀ[o, 0..{panel}) = bias[o] + Σ_i W[o, i]·xᵀ[i, ·] ({TileRows} broadcasts × 2 vectors), and yᵀ is added back into y.");
        w.Line("/// </summary>");
        w.Open($"private static void {name}_{V(vec)}(ref float x, int rows, ref float w, ref float bias, ref float y, bool accumulate, ref float pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)}, P = {panel};");
        w.Line("ref float xt = ref pack;                          // xᵀ [In, P]");
        w.Line("ref float yt = ref Unsafe.Add(ref pack, In * P);  // yᵀ [Out, P]");
        w.Open("for (int r = 0; r < rows; r += P)");
        w.Line("int n = Math.Min(P, rows - r);");
        w.Line($"PackPanel_{V(vec)}(ref Unsafe.Add(ref x, r * In), n, In, ref xt);");
        Tile Block(int size, int vecs) => new()
        {
            Vec = vec, Lanes = lanes, Rows = size, Vectors = vecs,
            RowRef = a => $"ref float w{a} = ref Unsafe.Add(ref w, (o + {a}) * In);",
            Init = a => $"{vec}.Create(Unsafe.Add(ref bias, o + {a}))",
            Loop = "for (int i = 0; i < In; i++)",
            Load = v => $"{vec}.LoadUnsafe(ref Unsafe.Add(ref xt, i * P + {v * lanes}))",
            Broadcast = a => $"Unsafe.Add(ref w{a}, i)",
            Store = (sw, a, v, acc) => sw.Line($"{acc}.StoreUnsafe(ref Unsafe.Add(ref yt, (o + {a}) * P + {v * lanes}));"),
        };
        void Blocks(int vecs)
        {
            if (blocks > 0)
            {
                w.Open($"for (int o = 0; o < {Int(blocks * TileRows)}; o += {TileRows})");
                WriteTileBody(w, Block(TileRows, vecs));
                w.Close();
            }
            if (rest > 0)
            {
                w.Open("");
                w.Line($"const int o = {Int(blocks * TileRows)}; // the last {rest} output{(rest == 1 ? "" : "s")}");
                WriteTileBody(w, Block((int)rest, vecs));
                w.Close();
            }
        }
        w.Open($"if (n > {lanes})");
        Blocks(2);
        w.Close();
        w.Open("else");
        w.Line($"// At most {lanes} rows (a small batch's last frames, or the last panel): one vector per tile row.");
        Blocks(1);
        w.Close();
        w.Line($"UnpackPanel_{V(vec)}(ref yt, Out, ref Unsafe.Add(ref y, r * Out), n, accumulate);");
        w.Close();
        w.Close();
        w.Line();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Input gradient: dx (+)= dy·W
    // ---------------------------------------------------------------------------------------------------------

    public static void WriteInputGrad(SourceWriter w, long inDim, long outDim)
    {
        string name = $"InputGrad_{inDim}x{outDim}";
        w.Line($"/// <summary>dx[r, i] (+)= Σ_o dy[r, o]·W[o, i]: dy [rows, {outDim}], W [{outDim}, {inDim}], dx [rows, {inDim}] (W read in place, no transpose).</summary>");
        w.Open($"private static void {name}(ReadOnlySpan<float> dy, int rows, ReadOnlySpan<float> w, Span<float> dx, bool accumulate)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        w.Line("ref float dyr = ref MemoryMarshal.GetReference(dy.Slice(0, rows * Out));");
        w.Line("ref float wr = ref MemoryMarshal.GetReference(w.Slice(0, Out * In));");
        w.Line("ref float dxr = ref MemoryMarshal.GetReference(dx.Slice(0, rows * In));");
        w.Line("if (Vector256.IsHardwareAccelerated)");
        w.Line($"    {name}_V256(ref dyr, rows, ref wr, ref dxr, accumulate);");
        w.Line("else");
        w.Line($"    {name}_V128(ref dyr, rows, ref wr, ref dxr, accumulate);");
        w.Close();
        w.Line();
        WriteInputGradWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteInputGradWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteInputGradWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        long vectors = inDim / lanes, tail = inDim % lanes;
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: tiles of {TileRows} rows of dy (broadcast) × 2 vectors of a W row, reducing over the {outDim} outputs.");
        w.Line("/// Columns go in chunks of 8 vectors so the chunk of W stays in cache while every row block passes over it.");
        if (vectors > 0 && tail > 0)
            w.Line($"/// In = {inDim} = {vectors}·{lanes} + {tail}: the last vector starts at In - {lanes} and writes only its last {tail} lanes.");
        w.Line("/// </summary>");
        w.Open($"private static void {name}_{V(vec)}(ref float dy, int rows, ref float w, ref float dx, bool accumulate)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        if (vectors == 0)
        {
            w.Line($"// In = {inDim} is narrower than one vector: scalar sums.");
            w.Open("for (int r = 0; r < rows; r++)");
            w.Open("for (int i = 0; i < In; i++)");
            w.Line("float sum = 0f;");
            w.Line("for (int o = 0; o < Out; o++) sum += Unsafe.Add(ref dy, r * Out + o) * Unsafe.Add(ref w, o * In + i);");
            w.Line("Store(ref Unsafe.Add(ref dx, r * In + i), sum, accumulate);");
            w.Close();
            w.Close();
            w.Close();
            w.Line();
            return;
        }
        if (tail > 0) KernelEmitter.WriteTailMask(w, vec, lanes, tail);
        Tile Block(int rowsInTile, int vecs, bool masked) => new()
        {
            Vec = vec, Lanes = lanes, Rows = rowsInTile, Vectors = vecs,
            RowRef = a => $"ref float d{a} = ref Unsafe.Add(ref dy, (r + {a}) * Out);",
            Init = _ => $"{vec}<float>.Zero",
            Loop = "for (int o = 0; o < Out; o++)",
            Load = v => $"{vec}.LoadUnsafe(ref Unsafe.Add(ref w, o * In + i + {v * lanes}))",
            Broadcast = a => $"Unsafe.Add(ref d{a}, o)",
            Store = (sw, a, v, acc) =>
            {
                string at = $"ref Unsafe.Add(ref dx, (r + {a}) * In + i + {v * lanes})";
                if (masked)
                {
                    sw.Line($"{vec}<float> old{a} = {vec}.LoadUnsafe({at});");
                    sw.Line($"{vec}.ConditionalSelect(tailMask, accumulate ? old{a} + {acc} : {acc}, old{a}).StoreUnsafe({at});");
                }
                else
                {
                    sw.Line($"(accumulate ? {vec}.LoadUnsafe({at}) + {acc} : {acc}).StoreUnsafe({at});");
                }
            },
        };
        void Columns(int rowsInTile)
        {
            // Pairs of vectors inside the chunk [c, c + 8·lanes), then (last chunk only) an odd vector and the masked tail.
            w.Open($"for (int i = c; i < Math.Min(c + {8 * lanes}, {Int(vectors / 2 * 2 * lanes)}); i += {2 * lanes})");
            WriteTileBody(w, Block(rowsInTile, 2, false));
            w.Close();
            if (vectors % 2 == 1 || tail > 0)
            {
                w.Open($"if (c + {8 * lanes} >= {Int(vectors / 2 * 2 * lanes)})");
                if (vectors % 2 == 1)
                {
                    w.Open("");
                    w.Line($"const int i = {Int((vectors - 1) * lanes)}; // the odd last full vector");
                    WriteTileBody(w, Block(rowsInTile, 1, false));
                    w.Close();
                }
                if (tail > 0)
                {
                    w.Open("");
                    w.Line($"const int i = In - {lanes}; // tail");
                    WriteTileBody(w, Block(rowsInTile, 1, true));
                    w.Close();
                }
                w.Close();
            }
        }
        long chunkEnd = Math.Max(vectors / 2 * 2 * lanes, 1);
        w.Open($"for (int c = 0; c < {Int(chunkEnd)}; c += {8 * lanes})");
        w.Line("int r = 0;");
        w.Open($"for (; r + {TileRows} <= rows; r += {TileRows})");
        Columns(TileRows);
        w.Close();
        w.Open("for (; r < rows; r++)");
        Columns(1);
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Weight gradient: dW += dyᵀ·x, db += Σ dy
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>Rows of dy and x reduced per pass over dW: the pass's x rows stay in L2 while every output block reads them.</summary>
    private const int RowChunk = 128;

    public static void WriteWeightGrad(SourceWriter w, long inDim, long outDim)
    {
        string name = $"WeightGrad_{inDim}x{outDim}";
        w.Line($"/// <summary>dW[o, i] += Σ_r dy[r, o]·x[r, i] and db[o] += Σ_r dy[r, o]: dy [rows, {outDim}], x [rows, {inDim}], dW [{outDim}, {inDim}].</summary>");
        w.Open($"private static void {name}(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, Span<float> dw, Span<float> db)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        w.Line("dy = dy.Slice(0, rows * Out);");
        w.Line("ref float dyr = ref MemoryMarshal.GetReference(dy);");
        w.Line("ref float xr = ref MemoryMarshal.GetReference(x.Slice(0, rows * In));");
        w.Line("ref float dwr = ref MemoryMarshal.GetReference(dw.Slice(0, Out * In));");
        w.Line("if (Vector256.IsHardwareAccelerated)");
        w.Line($"    {name}_V256(ref dyr, ref xr, rows, ref dwr);");
        w.Line("else");
        w.Line($"    {name}_V128(ref dyr, ref xr, rows, ref dwr);");
        w.Line("ColumnSums(dy, rows, db.Slice(0, Out));");
        w.Close();
        w.Line();
        WriteWeightGradWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteWeightGradWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteWeightGradWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        long vectors = inDim / lanes, tail = inDim % lanes;
        long blocks = outDim / TileRows, rest = outDim % TileRows;
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: tiles of {TileRows} outputs (dy broadcast) × 2 vectors of x, reducing over rows in chunks of {RowChunk}.");
        if (vectors > 0 && tail > 0)
            w.Line($"/// In = {inDim} = {vectors}·{lanes} + {tail}: the last vector starts at In - {lanes} and adds only its last {tail} lanes.");
        w.Line("/// </summary>");
        w.Open($"private static void {name}_{V(vec)}(ref float dy, ref float x, int rows, ref float dw)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        if (vectors == 0)
        {
            w.Line($"// In = {inDim} is narrower than one vector: scalar sums.");
            w.Open("for (int o = 0; o < Out; o++)");
            w.Open("for (int i = 0; i < In; i++)");
            w.Line("float sum = 0f;");
            w.Line("for (int r = 0; r < rows; r++) sum += Unsafe.Add(ref dy, r * Out + o) * Unsafe.Add(ref x, r * In + i);");
            w.Line("Unsafe.Add(ref dw, o * In + i) += sum;");
            w.Close();
            w.Close();
            w.Close();
            w.Line();
            return;
        }
        if (tail > 0) KernelEmitter.WriteTailMask(w, vec, lanes, tail);
        Tile Block(int outs, int vecs, bool masked) => new()
        {
            Vec = vec, Lanes = lanes, Rows = outs, Vectors = vecs,
            RowRef = a => a == 0 ? "ref float g = ref Unsafe.Add(ref dy, r0 * Out + o);" : "",
            Init = _ => $"{vec}<float>.Zero",
            Loop = "for (int r = r0; r < r1; r++)",
            Load = v => $"{vec}.LoadUnsafe(ref Unsafe.Add(ref x, r * In + i + {v * lanes}))",
            Broadcast = a => $"Unsafe.Add(ref g, {a})",
            Advance = "g = ref Unsafe.Add(ref g, Out);",
            Store = (sw, a, v, acc) =>
            {
                string at = $"ref Unsafe.Add(ref dw, (o + {a}) * In + i + {v * lanes})";
                sw.Line(masked
                    ? $"({vec}.LoadUnsafe({at}) + ({acc} & tailMask)).StoreUnsafe({at});"
                    : $"({vec}.LoadUnsafe({at}) + {acc}).StoreUnsafe({at});");
            },
        };
        void Columns(int outs)
        {
            if (vectors >= 2)
            {
                w.Open($"for (int i = 0; i < {Int(vectors / 2 * 2 * lanes)}; i += {2 * lanes})");
                WriteTileBody(w, Block(outs, 2, false));
                w.Close();
            }
            if (vectors % 2 == 1)
            {
                w.Open("");
                w.Line($"const int i = {Int((vectors - 1) * lanes)}; // the odd last full vector");
                WriteTileBody(w, Block(outs, 1, false));
                w.Close();
            }
            if (tail > 0)
            {
                w.Open("");
                w.Line($"const int i = In - {lanes}; // tail");
                WriteTileBody(w, Block(outs, 1, true));
                w.Close();
            }
        }
        w.Open($"for (int r0 = 0; r0 < rows; r0 += {RowChunk})");
        w.Line($"int r1 = Math.Min(rows, r0 + {RowChunk});");
        if (blocks > 0)
        {
            w.Open($"for (int o = 0; o < {Int(blocks * TileRows)}; o += {TileRows})");
            Columns(TileRows);
            w.Close();
        }
        if (rest > 0)
        {
            w.Open("");
            w.Line($"const int o = {Int(blocks * TileRows)}; // the last {rest} output{(rest == 1 ? "" : "s")}");
            Columns((int)rest);
            w.Close();
        }
        w.Close();
        w.Close();
        w.Line();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Panel transposes (shape-generic)
    // ---------------------------------------------------------------------------------------------------------

    public const string PanelKernels = """
/// <summary>Floats of panel scratch the Linear kernels need (xᵀ and yᵀ of the widest shape, 16-row panels).</summary>
public const int PackLength = 16 * (H + (E > F ? E : F));

/// <summary>
/// xt[i, j] = x[j, i] for j &lt; n and 0 for n ≤ j &lt; 16: a panel of n ≤ 16 rows of x [·, cols], transposed. Full panels
/// go through 8×8 in-register transposes (AVX), the rest element by element.
/// </summary>
private static void PackPanel_V256(ref float x, int n, int cols, ref float xt)
{
    const int P = 16;
    int i = 0;
    if (Avx.IsSupported && n == P)
    {
        for (; i + 8 <= cols; i += 8)
        {
            Transpose8x8(ref Unsafe.Add(ref x, i), cols, ref Unsafe.Add(ref xt, i * P), P, accumulate: false);
            Transpose8x8(ref Unsafe.Add(ref x, 8 * cols + i), cols, ref Unsafe.Add(ref xt, i * P + 8), P, accumulate: false);
        }
    }
    for (; i < cols; i++)
        for (int j = 0; j < P; j++)
            Unsafe.Add(ref xt, i * P + j) = j < n ? Unsafe.Add(ref x, j * cols + i) : 0f;
}

/// <summary>y[j, o] (+)= yt[o, j] for j &lt; n: the panel's yᵀ [cols, 16] added (or written) back into n rows of y [·, cols].</summary>
private static void UnpackPanel_V256(ref float yt, int cols, ref float y, int n, bool accumulate)
{
    const int P = 16;
    int o = 0;
    if (Avx.IsSupported && n == P)
    {
        for (; o + 8 <= cols; o += 8)
        {
            Transpose8x8(ref Unsafe.Add(ref yt, o * P), P, ref Unsafe.Add(ref y, o), cols, accumulate);
            Transpose8x8(ref Unsafe.Add(ref yt, o * P + 8), P, ref Unsafe.Add(ref y, 8 * cols + o), cols, accumulate);
        }
    }
    for (int j = 0; j < n; j++)
        for (int c = o; c < cols; c++)
            Store(ref Unsafe.Add(ref y, j * cols + c), Unsafe.Add(ref yt, c * P + j), accumulate);
}

/// <summary>The Vector128 panels (8 rows), transposed element by element.</summary>
private static void PackPanel_V128(ref float x, int n, int cols, ref float xt)
{
    const int P = 8;
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < P; j++)
            Unsafe.Add(ref xt, i * P + j) = j < n ? Unsafe.Add(ref x, j * cols + i) : 0f;
}

private static void UnpackPanel_V128(ref float yt, int cols, ref float y, int n, bool accumulate)
{
    const int P = 8;
    for (int j = 0; j < n; j++)
        for (int c = 0; c < cols; c++)
            Store(ref Unsafe.Add(ref y, j * cols + c), Unsafe.Add(ref yt, c * P + j), accumulate);
}

/// <summary>
/// dst[c, r] (+)= src[r, c] for an 8×8 block (row strides in floats): unpack pairs of rows, shuffle quads, swap
/// 128-bit halves. Only called where Avx.IsSupported.
/// </summary>
[MethodImpl(MethodImplOptions.AggressiveInlining)]
private static void Transpose8x8(ref float src, int srcStride, ref float dst, int dstStride, bool accumulate)
{
    Vector256<float> r0 = Vector256.LoadUnsafe(ref src), r1 = Vector256.LoadUnsafe(ref src, (nuint)srcStride);
    Vector256<float> r2 = Vector256.LoadUnsafe(ref src, (nuint)(2 * srcStride)), r3 = Vector256.LoadUnsafe(ref src, (nuint)(3 * srcStride));
    Vector256<float> r4 = Vector256.LoadUnsafe(ref src, (nuint)(4 * srcStride)), r5 = Vector256.LoadUnsafe(ref src, (nuint)(5 * srcStride));
    Vector256<float> r6 = Vector256.LoadUnsafe(ref src, (nuint)(6 * srcStride)), r7 = Vector256.LoadUnsafe(ref src, (nuint)(7 * srcStride));
    Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
    Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
    Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
    Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE), s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
    StoreRow(Avx.Permute2x128(s0, s4, 0x20), ref dst, 0, accumulate);
    StoreRow(Avx.Permute2x128(s1, s5, 0x20), ref dst, (nuint)dstStride, accumulate);
    StoreRow(Avx.Permute2x128(s2, s6, 0x20), ref dst, (nuint)(2 * dstStride), accumulate);
    StoreRow(Avx.Permute2x128(s3, s7, 0x20), ref dst, (nuint)(3 * dstStride), accumulate);
    StoreRow(Avx.Permute2x128(s0, s4, 0x31), ref dst, (nuint)(4 * dstStride), accumulate);
    StoreRow(Avx.Permute2x128(s1, s5, 0x31), ref dst, (nuint)(5 * dstStride), accumulate);
    StoreRow(Avx.Permute2x128(s2, s6, 0x31), ref dst, (nuint)(6 * dstStride), accumulate);
    StoreRow(Avx.Permute2x128(s3, s7, 0x31), ref dst, (nuint)(7 * dstStride), accumulate);
}

[MethodImpl(MethodImplOptions.AggressiveInlining)]
private static void StoreRow(Vector256<float> row, ref float dst, nuint offset, bool accumulate) =>
    (accumulate ? Vector256.LoadUnsafe(ref dst, offset) + row : row).StoreUnsafe(ref dst, offset);
""";
}
