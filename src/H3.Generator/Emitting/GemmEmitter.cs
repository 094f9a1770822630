using System;
using System.Collections.Generic;
using H3.Generator.Parsing;
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

    private static string V(string vec) => vec.Replace("Vector", "V");

    /// <summary>Calls the Vector256 body where it is accelerated, else the Vector128 one (which runs everywhere).</summary>
    internal static void WriteWidthDispatch(SourceWriter w, string name, string args)
    {
        w.Line("if (Vector256.IsHardwareAccelerated)");
        w.Line($"    {name}_V256({args});");
        w.Line("else");
        w.Line($"    {name}_V128({args});");
    }

    /// <summary>
    /// On every kernel with a hot loop: the JIT compiles it fully optimised on first use instead of starting at Tier 0 and
    /// patching the running loop (OSR), so the first calls are as fast as the thousandth. Native AOT ignores it.
    /// </summary>
    public const string HotKernel = "[MethodImpl(MethodImplOptions.AggressiveOptimization)]";

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
        public Action<SourceWriter, int>? StoreAll;                // replaces Store: gets the number of rows
        public string? Prefetch;                                   // with it, Loop runs in chunks of 16 (i0) and this starts each chunk
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
        if (t.Prefetch is not null)
        {
            // Loop is "for (int i = 0; i < In; i++)": the same iterations, in chunks of one cache line of W.
            w.Open("for (int i0 = 0; i0 < In; i0 += 16)");
            w.Line(t.Prefetch);
            w.Open("for (int i = i0, end = Math.Min(i0 + 16, In); i < end; i++)");
        }
        else
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
        if (t.Prefetch is not null) w.Close();
        if (t.StoreAll is not null)
        {
            t.StoreAll(w, t.Rows);
            return;
        }
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
        w.Line($"ref float pr = ref MemoryMarshal.GetReference(pack.Slice(0, {Int(H3Config.LinearPanels(inDim, outDim))} * 16 * (In + Out)));");
        WriteWidthDispatch(w, name, "ref xr, rows, ref wr, ref br, ref yr, accumulate, ref pr");
        w.Close();
        w.Line();
        WriteLinearWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteLinearWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteLinearWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        int panel = 2 * lanes;
        long blocks = outDim / TileRows, rest = outDim % TileRows;
        long group = H3Config.LinearPanels(inDim, outDim);
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: panels of {panel} rows, {group} panels at a time. The group's xᵀ [In, {panel}] panels are packed, then");
        w.Line($"/// each block of {TileRows} outputs (its W rows stay in L1) accumulates yᵀ[o, ·] = bias[o] + Σ_i W[o, i]·xᵀ[i, ·] for every");
        w.Line($"/// panel ({TileRows} broadcasts × 2 vectors), and the panels' yᵀ are added back into y.");
        w.Line("/// </summary>");
        w.Line(HotKernel);
        w.Open($"private static void {name}_{V(vec)}(ref float x, int rows, ref float w, ref float bias, ref float y, bool accumulate, ref float pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)}, P = {panel}, G = {Int(group)};");
        w.Line("ref float xt = ref pack;                              // G × xᵀ [In, P]");
        w.Line("ref float yt = ref Unsafe.Add(ref pack, G * In * P);  // G × yᵀ [Out, P]");
        w.Line($"for (int i = 0; i < {Math.Min(TileRows, outDim)} * In; i += 16) global::H3.H3Intrinsics.Prefetch(ref Unsafe.Add(ref w, i)); // the first block's weights, while x is packed (inside W)");
        w.Open("for (int r0 = 0; r0 < rows; r0 += G * P)");
        w.Line("int panels = Math.Min(G, (rows - r0 + P - 1) / P);");
        w.Line("for (int g = 0; g < panels; g++)");
        w.Line($"    PackPanel_{V(vec)}(ref Unsafe.Add(ref x, (r0 + g * P) * In), Math.Min(P, rows - r0 - g * P), In, ref Unsafe.Add(ref xt, g * In * P));");
        Tile Block(int size, int vecs, bool prefetch) => new()
        {
            Vec = vec, Lanes = lanes, Rows = size, Vectors = vecs,
            Prefetch = prefetch ? "if (prefetch) PrefetchColumn(ref Unsafe.Add(ref w, (o + " + TileRows + ") * In + i0), In); // the next block's W rows, a line each" : null,
            RowRef = a => $"ref float w{a} = ref Unsafe.Add(ref w, (o + {a}) * In);",
            Init = a => $"{vec}.Create(Unsafe.Add(ref bias, o + {a}))",
            Loop = "for (int i = 0; i < In; i++)",
            Load = v => $"{vec}.LoadUnsafe(ref Unsafe.Add(ref xg, i * P + {v * lanes}))",
            Broadcast = a => $"Unsafe.Add(ref w{a}, i)",
            Store = (sw, a, v, acc) => sw.Line($"{acc}.StoreUnsafe(ref Unsafe.Add(ref yg, (o + {a}) * P + {v * lanes}));"),
        };
        void Panels(int size, bool touchNext)
        {
            w.Open("for (int g = 0; g < panels; g++)");
            w.Line("ref float xg = ref Unsafe.Add(ref xt, g * In * P);");
            w.Line("ref float yg = ref Unsafe.Add(ref yt, g * Out * P);");
            if (touchNext)
                w.Line($"bool prefetch = g == 0 && o + {2 * TileRows} <= Out; // the first panel requests the next block's weights as it goes");
            w.Open($"if (rows - r0 - g * P > {lanes})");
            WriteTileBody(w, Block(size, 2, touchNext));
            w.Close();
            w.Open("else");
            w.Line($"// At most {lanes} rows (a small batch's last frames, or the last panel): one vector per tile row.");
            WriteTileBody(w, Block(size, 1, touchNext));
            w.Close();
            w.Close();
        }
        if (blocks > 0)
        {
            w.Open($"for (int o = 0; o < {Int(blocks * TileRows)}; o += {TileRows})");
            Panels(TileRows, touchNext: true);
            w.Close();
        }
        if (rest > 0)
        {
            w.Open("");
            w.Line($"const int o = {Int(blocks * TileRows)}; // the last {rest} output{(rest == 1 ? "" : "s")}");
            Panels((int)rest, touchNext: false);
            w.Close();
        }
        w.Line("for (int g = 0; g < panels; g++)");
        w.Line($"    UnpackPanel_{V(vec)}(ref Unsafe.Add(ref yt, g * Out * P), Out, ref Unsafe.Add(ref y, (r0 + g * P) * Out), Math.Min(P, rows - r0 - g * P), accumulate);");
        w.Close();
        w.Close();
        w.Line();
    }

    /// <summary>
    /// Stores a tile's rows (a{a}0, a{a}1) at <paramref name="at"/>(a): whole vectors when the tile is full, else every row
    /// into the staging buffer first and then StoreFirst per row. No call may come while an accumulator is still live:
    /// the JIT would then keep all of them in memory inside the loop.
    /// </summary>
    private static void WriteColumnStores(SourceWriter w, string vec, int lanes, int rows, Func<int, string> at, string accumulate)
    {
        w.Open($"if (valid == {2 * lanes})");
        for (int a = 0; a < rows; a++)
        {
            w.Line($"ref float dst{a} = {at(a)};");
            string Sum(int v, string offset) => accumulate == "true"
                ? $"{vec}.LoadUnsafe(ref dst{a}{offset}) + a{a}{v}"
                : $"{accumulate} ? {vec}.LoadUnsafe(ref dst{a}{offset}) + a{a}{v} : a{a}{v}";
            w.Line($"({Sum(0, "")}).StoreUnsafe(ref dst{a});");
            w.Line($"({Sum(1, $", {lanes}")}).StoreUnsafe(ref dst{a}, {lanes});");
        }
        w.Close();
        w.Open("else");
        w.Line("// A partial tile (the last columns of a row): stage every row, then copy the valid columns.");
        for (int a = 0; a < rows; a++)
        {
            w.Line($"a{a}0.StoreUnsafe(ref staged, {a * 2 * lanes});");
            w.Line($"a{a}1.StoreUnsafe(ref staged, {a * 2 * lanes + lanes});");
        }
        for (int a = 0; a < rows; a++)
            w.Line($"StoreFirst({at(a)}, ref Unsafe.Add(ref staged, {a * 2 * lanes}), valid, {accumulate});");
        w.Close();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Input gradient: dx (+)= dy·W
    // ---------------------------------------------------------------------------------------------------------

    public static void WriteInputGrad(SourceWriter w, long inDim, long outDim)
    {
        string name = $"InputGrad_{inDim}x{outDim}";
        w.Line($"/// <summary>dx[r, i] (+)= Σ_o dy[r, o]·W[o, i]: dy [rows, {outDim}], W [{outDim}, {inDim}], dx [rows, {inDim}]. <paramref name=\"pack\"/>: PackLength floats.</summary>");
        w.Open($"private static void {name}(ReadOnlySpan<float> dy, int rows, ReadOnlySpan<float> w, Span<float> dx, bool accumulate, Span<float> pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        w.Line("ref float dyr = ref MemoryMarshal.GetReference(dy.Slice(0, rows * Out));");
        w.Line("ref float wr = ref MemoryMarshal.GetReference(w.Slice(0, Out * In));");
        w.Line("ref float dxr = ref MemoryMarshal.GetReference(dx.Slice(0, rows * In));");
        w.Line($"ref float pr = ref MemoryMarshal.GetReference(pack.Slice(0, Out * {Int(H3Config.InputGradChunk(inDim))}));");
        WriteWidthDispatch(w, name, "ref dyr, rows, ref wr, ref dxr, accumulate, ref pr");
        w.Close();
        w.Line();
        WriteInputGradWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteInputGradWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteInputGradWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        int tw = 2 * lanes;
        long chunk = H3Config.InputGradChunk(inDim);
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: W's columns in chunks of {chunk}, each packed as tiles [{tw} columns][Out] so the reduction over");
        w.Line($"/// outputs reads them contiguously (a W column at stride In would thrash L1); then tiles of {TileRows} rows of dy (broadcast)");
        w.Line($"/// × {tw} columns for every row block.");
        w.Line("/// </summary>");
        w.Line(HotKernel);
        w.Open($"private static void {name}_{V(vec)}(ref float dy, int rows, ref float w, ref float dx, bool accumulate, ref float pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)}, TW = {tw}, Chunk = {Int(chunk)};");
        w.Line("ref float staged = ref MemoryMarshal.GetReference(stackalloc float[" + TileRows + " * TW]); // a partial tile on its way out");
        w.Open("for (int c0 = 0; c0 < In; c0 += Chunk)");
        w.Line("int width = Math.Min(Chunk, In - c0), tiles = (width + TW - 1) / TW;");
        w.Line($"PackColumns_{V(vec)}(ref Unsafe.Add(ref w, c0), Out, In, width, ref pack); // pack[t, o, 0..TW) = W[o, c0 + t·TW ..]");
        Tile Block(int rowsInTile) => new()
        {
            Vec = vec, Lanes = lanes, Rows = rowsInTile, Vectors = 2,
            RowRef = a => $"ref float d{a} = ref Unsafe.Add(ref dy, (r + {a}) * Out);",
            Init = _ => $"{vec}<float>.Zero",
            Loop = "for (int o = 0; o < Out; o++)",
            Load = v => $"{vec}.LoadUnsafe(ref wt, (nuint)(o * TW + {v * lanes}))",
            Broadcast = a => $"Unsafe.Add(ref d{a}, o)",
            StoreAll = (sw, n) => WriteColumnStores(sw, vec, lanes, n, a => $"ref Unsafe.Add(ref dx, (r + {a}) * In + c)", "accumulate"),
        };
        void Rows(int size)
        {
            w.Open("for (int t = 0; t < tiles; t++)");
            w.Line("int c = c0 + t * TW, valid = Math.Min(TW, In - c);");
            w.Line("ref float wt = ref Unsafe.Add(ref pack, t * Out * TW);");
            WriteTileBody(w, Block(size));
            w.Close();
        }
        w.Line("int r = 0;");
        w.Open($"for (; r + {TileRows} <= rows; r += {TileRows})");
        Rows(TileRows);
        w.Close();
        w.Open("for (; r < rows; r++)");
        Rows(1);
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Weight gradient: dW += dyᵀ·x, db += Σ dy
    // ---------------------------------------------------------------------------------------------------------

    public static void WriteWeightGrad(SourceWriter w, long inDim, long outDim)
    {
        string name = $"WeightGrad_{inDim}x{outDim}";
        w.Line($"/// <summary>dW[o, i] += Σ_r dy[r, o]·x[r, i] and db[o] += Σ_r dy[r, o]: dy [rows, {outDim}], x [rows, {inDim}], dW [{outDim}, {inDim}]. <paramref name=\"pack\"/>: PackLength floats.</summary>");
        w.Open($"private static void {name}(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, Span<float> dw, Span<float> db, Span<float> pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)};");
        w.Line("dy = dy.Slice(0, rows * Out);");
        w.Line("ref float dyr = ref MemoryMarshal.GetReference(dy);");
        w.Line("ref float xr = ref MemoryMarshal.GetReference(x.Slice(0, rows * In));");
        w.Line("ref float dwr = ref MemoryMarshal.GetReference(dw.Slice(0, Out * In));");
        w.Line($"ref float pr = ref MemoryMarshal.GetReference(pack.Slice(0, {H3Config.WeightGradRows} * {Int(H3Config.WeightGradChunk(inDim))} + {H3Config.WeightGradRows} * 8));");
        WriteWidthDispatch(w, name, "ref dyr, ref xr, rows, ref dwr, ref pr");
        w.Line("ColumnSums(dy, rows, db.Slice(0, Out));");
        w.Close();
        w.Line();
        WriteWeightGradWidth(w, name, inDim, outDim, "Vector256", 8);
        WriteWeightGradWidth(w, name, inDim, outDim, "Vector128", 4);
    }

    private static void WriteWeightGradWidth(SourceWriter w, string name, long inDim, long outDim, string vec, int lanes)
    {
        int tw = 2 * lanes;
        long chunk = H3Config.WeightGradChunk(inDim);
        long blocks = outDim / TileRows, rest = outDim % TileRows;
        w.Line("/// <summary>");
        w.Line($"/// {name} on {vec}: rows in chunks of {H3Config.WeightGradRows} and x's columns in chunks of {chunk}, packed as tiles");
        w.Line($"/// [{tw} columns][rows]; per block of {TileRows} outputs the block's dy columns are packed [rows][8]. Tiles of {TileRows} outputs");
        w.Line($"/// (dy broadcast) × {tw} columns of x reduce over the chunk's rows, reading both packs contiguously.");
        w.Line("/// </summary>");
        w.Line(HotKernel);
        w.Open($"private static void {name}_{V(vec)}(ref float dy, ref float x, int rows, ref float dw, ref float pack)");
        w.Line($"const int In = {Int(inDim)}, Out = {Int(outDim)}, TW = {tw}, Chunk = {Int(chunk)}, RowChunk = {H3Config.WeightGradRows};");
        w.Line("ref float gp = ref Unsafe.Add(ref pack, RowChunk * Chunk); // dy columns o .. o+5 of the chunk's rows, [r][8]");
        w.Line("ref float staged = ref MemoryMarshal.GetReference(stackalloc float[" + TileRows + " * TW]); // a partial tile on its way out");
        w.Open("for (int r0 = 0; r0 < rows; r0 += RowChunk)");
        w.Line("int n = Math.Min(RowChunk, rows - r0);");
        w.Open("for (int c0 = 0; c0 < In; c0 += Chunk)");
        w.Line("int width = Math.Min(Chunk, In - c0), tiles = (width + TW - 1) / TW;");
        w.Line($"PackColumns_{V(vec)}(ref Unsafe.Add(ref x, r0 * In + c0), n, In, width, ref pack); // pack[t, r, 0..TW) = x[r0 + r, c0 + t·TW ..]");
        Tile Block(int outs) => new()
        {
            Vec = vec, Lanes = lanes, Rows = outs, Vectors = 2,
            RowRef = a => a == 0 ? "ref float g = ref gp;" : "",
            Init = _ => $"{vec}<float>.Zero",
            Loop = "for (int r = 0; r < n; r++)",
            Load = v => $"{vec}.LoadUnsafe(ref xt, (nuint)(r * TW + {v * lanes}))",
            Broadcast = a => $"Unsafe.Add(ref g, {a})",
            Advance = "g = ref Unsafe.Add(ref g, 8);",
            StoreAll = (sw, n) => WriteColumnStores(sw, vec, lanes, n, a => $"ref Unsafe.Add(ref dw, (o + {a}) * In + c)", "true"),
        };
        void Tiles(int outs)
        {
            w.Line("PackRows8(ref Unsafe.Add(ref dy, r0 * Out + o), n, Out, Math.Min(8, Out - o), ref gp);");
            w.Open("for (int t = 0; t < tiles; t++)");
            w.Line("int c = c0 + t * TW, valid = Math.Min(TW, In - c);");
            w.Line("ref float xt = ref Unsafe.Add(ref pack, t * n * TW);");
            WriteTileBody(w, Block(outs));
            w.Close();
        }
        if (blocks > 0)
        {
            w.Open($"for (int o = 0; o < {Int(blocks * TileRows)}; o += {TileRows})");
            Tiles(TileRows);
            w.Close();
        }
        if (rest > 0)
        {
            w.Open("");
            w.Line($"const int o = {Int(blocks * TileRows)}; // the last {rest} output{(rest == 1 ? "" : "s")}");
            Tiles((int)rest);
            w.Close();
        }
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Panel transposes (shape-generic)
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>The shape-generic panel kernels: transposes, column packing for both widths, staging stores.</summary>
    public static void WritePanelKernels(SourceWriter w)
    {
        w.Lines(PanelKernels);
        foreach (var (vec, lanes) in new[] { ("Vector256", 8), ("Vector128", 4) })
            w.Lines(PackColumns(vec, lanes));
    }

    /// <summary>
    /// dst[t, r, 0..TW) = src[r, t·TW ..] for r &lt; n and tiles t covering width columns (zeros past it): columns of a
    /// row-major block [n, stride] regrouped into contiguous tiles of two vectors.
    /// </summary>
    private static string PackColumns(string vec, int lanes) => $$"""
/// <summary>
/// dst[t, r, 0..{{2 * lanes}}) = src[r, t·{{2 * lanes}} ..] for r &lt; n and tiles t covering <paramref name="width"/> columns (zeros past
/// it): the columns of a row-major block [n, stride] regrouped into contiguous {{2 * lanes}}-wide tiles ({{vec}}).
/// </summary>
[MethodImpl(MethodImplOptions.AggressiveOptimization)]
private static void PackColumns_{{V(vec)}}(ref float src, int n, int stride, int width, ref float dst)
{
    const int TW = {{2 * lanes}};
    int full = width / TW, rest = width % TW;
    for (int t = 0; t < full; t++)
    {
        ref float d = ref Unsafe.Add(ref dst, t * n * TW);
        ref float s = ref Unsafe.Add(ref src, t * TW);
        for (int r = 0; r < n; r++)
        {
            {{vec}}.LoadUnsafe(ref s, (nuint)(r * stride)).StoreUnsafe(ref d, (nuint)(r * TW));
            {{vec}}.LoadUnsafe(ref s, (nuint)(r * stride + {{lanes}})).StoreUnsafe(ref d, (nuint)(r * TW + {{lanes}}));
        }
    }
    if (rest > 0)
    {
        ref float d = ref Unsafe.Add(ref dst, full * n * TW);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < TW; j++)
                Unsafe.Add(ref d, r * TW + j) = j < rest ? Unsafe.Add(ref src, r * stride + full * TW + j) : 0f;
    }
}

""";

    private const string PanelKernels = """
/// <summary>
/// xt[i, j] = x[j, i] for j &lt; n and 0 for n ≤ j &lt; 16: a panel of n ≤ 16 rows of x [·, cols], transposed. Full panels
/// go through 8×8 in-register transposes (AVX), the rest element by element.
/// </summary>
[MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
[MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

/// <summary>
/// dst[r, 0..count) = src[r, 0..count) for r &lt; n, rows of 8 floats: a weight gradient's block of dy columns, contiguous.
/// The tiles read only the block's own columns, so when 8 are available (count = 8) whole vectors are copied.
/// </summary>
[MethodImpl(MethodImplOptions.AggressiveOptimization)]
private static void PackRows8(ref float src, int n, int stride, int count, ref float dst)
{
    if (count == 8 && Vector256.IsHardwareAccelerated)
    {
        for (int r = 0; r < n; r++)
            Vector256.LoadUnsafe(ref src, (nuint)(r * stride)).StoreUnsafe(ref dst, (nuint)(r * 8));
        return;
    }
    for (int r = 0; r < n; r++)
        for (int j = 0; j < count; j++)
            Unsafe.Add(ref dst, r * 8 + j) = Unsafe.Add(ref src, r * stride + j);
}

/// <summary>
/// Prefetches one cache line of each of the 6 weight rows starting at <paramref name="start"/> (stride floats apart): the
/// next block's weights, requested while the current block computes. The hardware prefetchers miss these in a batch-1
/// Forward, where each matrix is read once and comes from memory.
/// </summary>
[MethodImpl(MethodImplOptions.AggressiveInlining)]
private static void PrefetchColumn(ref float start, int stride)
{
    global::H3.H3Intrinsics.Prefetch(ref start);
    global::H3.H3Intrinsics.Prefetch(ref Unsafe.Add(ref start, stride));
    global::H3.H3Intrinsics.Prefetch(ref Unsafe.Add(ref start, 2 * stride));
    global::H3.H3Intrinsics.Prefetch(ref Unsafe.Add(ref start, 3 * stride));
    global::H3.H3Intrinsics.Prefetch(ref Unsafe.Add(ref start, 4 * stride));
    global::H3.H3Intrinsics.Prefetch(ref Unsafe.Add(ref start, 5 * stride));
}

/// <summary>dst[0..valid) (+)= staged[0..valid): the columns of a partial tile row.</summary>
private static void StoreFirst(ref float dst, ref float staged, int valid, bool accumulate)
{
    for (int j = 0; j < valid; j++) Store(ref Unsafe.Add(ref dst, j), Unsafe.Add(ref staged, j), accumulate);
}

/// <summary>The Vector128 panels (8 rows), transposed element by element.</summary>
[MethodImpl(MethodImplOptions.AggressiveOptimization)]
private static void PackPanel_V128(ref float x, int n, int cols, ref float xt)
{
    const int P = 8;
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < P; j++)
            Unsafe.Add(ref xt, i * P + j) = j < n ? Unsafe.Add(ref x, j * cols + i) : 0f;
}

[MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
