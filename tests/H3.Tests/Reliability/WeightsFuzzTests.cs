using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Xunit.Abstractions;

namespace H3.Tests.Reliability;

/// <summary>
/// Issue 7, part 1: hostile weight files. A seeded mutator turns the safetensors file of a generated model into
/// 100,000 (default; <c>H3_FUZZ_ITERATIONS</c> for more) truncated, re-sized, malformed, deeply nested, re-offset,
/// re-typed, duplicated, incomplete and NaN-laden files, and feeds each to the generated <c>LoadWeights</c> (from a
/// stream, and every 40th from disk) and to the runtime <see cref="Safetensors"/> reader. Only
/// <see cref="H3FormatException"/> may come out; the model must be bit-unchanged after every failure and hold exactly
/// the file's values after every success; no case may allocate more than a small multiple of its size (an
/// allocation sized by an unchecked header number would) or take longer than a few seconds.
/// </summary>
public sealed class WeightsFuzzTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 100_000;
    private const int Seed = 0x3F00D7;

    /// <summary>How a mutation must end for the model's loader.</summary>
    private enum Expect { Any, Reject, Load }

    /// <summary>One tensor entry of a header, as raw JSON fragments so that any of them can be made invalid.</summary>
    private sealed class Entry(string name, string shape, byte[] data)
    {
        public string Name = name;      // JSON string token, quotes included
        public string DType = "\"F32\"";
        public string Shape = shape;    // JSON array token
        public byte[] Data = data;
        public Func<long, long, long, string>? Offsets; // (begin, end, data length) → token; null = the right one
        public string Extra = "";       // appended inside the entry object
        public Entry Clone() => (Entry)MemberwiseClone();
    }

    /// <summary>A whole file: header entries, the order of their data, metadata and padding.</summary>
    private sealed class Doc
    {
        public List<Entry> Entries = [];
        public int[]? DataOrder;        // indices into Entries; null = header order
        public string? Metadata = "{\"format\":\"pt\",\"h3.model\":\"FuzzModel\"}";
        public string? HeaderOverride;  // replaces the whole JSON
        public string Padding = "";     // after the JSON, before rounding up to 8 with spaces

        public Doc Clone()
        {
            var d = (Doc)MemberwiseClone();
            d.Entries = Entries.Select(e => e.Clone()).ToList();
            d.DataOrder = DataOrder?.ToArray();
            return d;
        }

        public byte[] Build()
        {
            int[] order = DataOrder ?? Enumerable.Range(0, Entries.Count).ToArray();
            var begin = new long[Entries.Count];
            long dataLength = 0;
            foreach (int i in order)
            {
                begin[i] = dataLength;
                dataLength += Entries[i].Data.Length;
            }
            var json = new StringBuilder();
            if (HeaderOverride is not null)
            {
                json.Append(HeaderOverride);
            }
            else
            {
                json.Append('{');
                if (Metadata is not null) json.Append("\"__metadata__\":").Append(Metadata).Append(',');
                for (int i = 0; i < Entries.Count; i++)
                {
                    Entry e = Entries[i];
                    long b = begin[i], end = b + e.Data.Length;
                    string offsets = e.Offsets?.Invoke(b, end, dataLength) ?? $"[{b},{end}]";
                    json.Append(e.Name).Append(":{\"dtype\":").Append(e.DType).Append(",\"shape\":").Append(e.Shape)
                        .Append(",\"data_offsets\":").Append(offsets).Append(e.Extra).Append('}');
                    if (i + 1 < Entries.Count) json.Append(',');
                }
                json.Append('}');
            }
            json.Append(Padding);
            byte[] header = Encoding.UTF8.GetBytes(json.ToString());
            int padded = (header.Length + 7) & ~7;
            var bytes = new byte[8 + padded + dataLength];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
            header.CopyTo(bytes, 8);
            bytes.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
            long at = 8 + padded;
            foreach (int i in order)
            {
                Entries[i].Data.CopyTo(bytes, at);
                at += Entries[i].Data.Length;
            }
            return bytes;
        }
    }

    private static int Iterations =>
        int.TryParse(Environment.GetEnvironmentVariable("H3_FUZZ_ITERATIONS"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
            ? Math.Max(n, DefaultIterations) : DefaultIterations;

    private static Doc BaseDoc(float[] parameters)
    {
        var doc = new Doc();
        foreach (H3Tensor t in FuzzModel.Tensors)
        {
            doc.Entries.Add(new Entry("\"" + t.Name + "\"", "[" + string.Join(",", t.Shape) + "]",
                Reliable.Bits(parameters.AsSpan(t.Offset, t.Length))));
        }
        return doc;
    }

    // ---------------------------------------------------------------------------------------------------
    // The mutations. Each returns what the model's loader must do with the result.

    private delegate Expect Mutation(Doc doc, Random r, out string? nonFiniteTensor);

    private static readonly (string Name, Mutation Apply)[] Structured =
    [
        ("valid: new values", (Doc d, Random r, out string? t) =>
        {
            t = null;
            foreach (Entry e in d.Entries) e.Data = Reliable.Bits(Reliable.Random(e.Data.Length / 4, r.Next()));
            return Expect.Load;
        }),
        ("valid: header order shuffled", (Doc d, Random r, out string? t) =>
        {
            t = null;
            d.Entries = d.Entries.OrderBy(_ => r.Next()).ToList();
            return Expect.Load;
        }),
        ("valid: data order shuffled", (Doc d, Random r, out string? t) =>
        {
            t = null;
            d.DataOrder = Enumerable.Range(0, d.Entries.Count).OrderBy(_ => r.Next()).ToArray();
            return Expect.Load;
        }),
        ("wrong dtype", (Doc d, Random r, out string? t) =>
        {
            t = null;
            string[] dtypes = ["\"F16\"", "\"F64\"", "\"BF16\"", "\"I32\"", "\"I64\"", "\"U8\"", "\"BOOL\"", "\"f32\"", "\"\"", "\"Q4_0\"", "32", "null", "[\"F32\"]", "\"F32 \"", "{}"];
            Pick(d, r).DType = dtypes[r.Next(dtypes.Length)];
            return Expect.Reject;
        }),
        ("shape disagrees", (Doc d, Random r, out string? t) =>
        {
            t = null;
            Entry e = Pick(d, r);
            long[] dims = e.Shape.Trim('[', ']').Split(',').Select(x => long.TryParse(x, out long v) ? v : 1).ToArray();
            int k = r.Next(dims.Length);
            e.Shape = r.Next(16) switch
            {
                0 => Shape(dims.Select((x, i) => i == k ? x + 1 : x)),
                1 => Shape(dims.Select((x, i) => i == k ? x - 1 : x)),
                2 => Shape(dims.Append(1)),
                3 => Shape(dims.Prepend(1)),
                4 => dims.Length > 1 ? Shape(dims.Skip(1)) : "[]",
                5 => dims.Length > 1 && dims[0] != dims[1] ? Shape(dims.Reverse()) : Shape(dims.Select(x => x * 2)),
                6 => "[-1," + string.Join(",", dims) + "]",
                7 => "[4294967296,4294967296]",
                8 => "[9223372036854775807,2]",
                9 => "[1099511627776]",
                10 => "[18446744073709551616]",
                11 => "[1.5]",
                12 => "[\"" + dims[0] + "\"]",
                13 => "{}",
                14 => "[" + string.Join(",", Enumerable.Repeat(1, 1 + r.Next(5000))) + "," + string.Join(",", dims) + ",2]",
                _ => "[1e3]",
            };
            return Expect.Reject;
        }),
        ("bad data_offsets", (Doc d, Random r, out string? t) =>
        {
            t = null;
            int kind = r.Next(15);
            Pick(d, r).Offsets = (b, e, n) => kind switch
            {
                0 => $"[{e},{b}]",                        // reversed
                1 => $"[{b - 4},{e - 4}]",                // overlaps the tensor before (or negative)
                2 => $"[{b + 4},{e + 4}]",                // hole, then past the end
                3 => $"[{b},{e + 4}]",                    // size disagrees with the shape
                4 => $"[{b},{n + 1}]",                    // past the end of the data
                5 => $"[{b},9223372036854775807]",
                6 => $"[-1,{e}]",
                7 => $"[{b}]",
                8 => $"[{b},{e},{e}]",
                9 => "[]",
                10 => $"[{b}.0,{e}.0]",
                11 => $"[\"{b}\",\"{e}\"]",
                12 => "null",
                13 => $"[18446744073709551615,{e}]",
                _ => "[0,0]",
            };
            return Expect.Reject;
        }),
        ("two tensors on the same bytes", (Doc d, Random r, out string? t) =>
        {
            t = null;
            // Give tensor j the offsets of an equally long tensor i: one region is covered twice, another not at all.
            var sizes = d.Entries.GroupBy(e => e.Data.Length).Where(g => g.Count() > 1).ToList();
            if (sizes.Count == 0) return Expect.Any; // (a combination removed the equal pairs)
            List<Entry> same = sizes[r.Next(sizes.Count)].ToList();
            Entry a = same[0], b = same[1];
            long aBegin = -1;
            a.Offsets = (bb, e, n) => { aBegin = bb; return $"[{bb},{e}]"; };
            b.Offsets = (bb, e, n) => aBegin >= 0 ? $"[{aBegin},{aBegin + (e - bb)}]" : $"[{bb},{e}]";
            d.DataOrder = null; // header order: a is written before b, so aBegin is known when b's token is made
            if (d.Entries.IndexOf(a) > d.Entries.IndexOf(b)) (d.Entries[d.Entries.IndexOf(a)], d.Entries[d.Entries.IndexOf(b)]) = (b, a);
            return Expect.Reject;
        }),
        ("duplicate name", (Doc d, Random r, out string? t) =>
        {
            t = null;
            Entry copy = Pick(d, r).Clone();
            if (r.Next(2) == 0) copy.Data = Reliable.Bits(Reliable.Random(copy.Data.Length / 4, r.Next()));
            d.Entries.Insert(r.Next(d.Entries.Count + 1), copy);
            d.DataOrder = null;
            return Expect.Reject;
        }),
        ("missing tensor", (Doc d, Random r, out string? t) =>
        {
            t = null;
            d.Entries.RemoveAt(r.Next(d.Entries.Count));
            d.DataOrder = null;
            return Expect.Reject;
        }),
        ("extra tensor", (Doc d, Random r, out string? t) =>
        {
            t = null;
            int n = r.Next(4);
            d.Entries.Insert(r.Next(d.Entries.Count + 1), new Entry("\"layers.9.extra\"", n == 0 ? "[]" : $"[{n}]", new byte[4 * Math.Max(n, 1)]));
            d.DataOrder = null;
            return Expect.Reject;
        }),
        ("unknown or missing key", (Doc d, Random r, out string? t) =>
        {
            t = null;
            Entry e = Pick(d, r);
            switch (r.Next(4))
            {
                case 0: e.Extra = ",\"foo\":1"; break;
                case 1: e.Extra = ",\"dtype\":\"F32\""; break;
                case 2: e.Extra = ",\"shape\":" + e.Shape; break;
                default: e.Extra = ",\"data_offsets\":[0,4]"; break;
            }
            return Expect.Reject;
        }),
        ("NaN or infinite payload", (Doc d, Random r, out string? t) =>
        {
            uint[] specials = [0x7FC00000, 0xFFC00000, 0x7FC00001, 0xFFC12345, 0x7F800001, 0xFFBFFFFF, 0x7FFFFFFF, 0x7F800000, 0xFF800000];
            int count = 1 + r.Next(3);
            for (int i = 0; i < count; i++)
            {
                Entry e = Pick(d, r);
                if (e.Data.Length < 4) continue;
                e.Data = (byte[])e.Data.Clone(); // entries share their data with the base document
                int at = 4 * r.Next(e.Data.Length / 4);
                BinaryPrimitives.WriteUInt32LittleEndian(e.Data.AsSpan(at), specials[r.Next(specials.Length)]);
            }
            // The loader checks tensors in layout order: it must name the first one holding a non-finite value.
            // (null when an earlier mutation of a combination removed or renamed tensors).
            t = FuzzModel.Tensors.ToArray().Select(x => x.Name).FirstOrDefault(name =>
            {
                Entry? e = d.Entries.FirstOrDefault(x => x.Name == "\"" + name + "\"");
                for (int i = 0; e is not null && i + 4 <= e.Data.Length; i += 4)
                    if (!float.IsFinite(BinaryPrimitives.ReadSingleLittleEndian(e.Data.AsSpan(i)))) return true;
                return false;
            });
            return Expect.Reject;
        }),
        ("deeply nested JSON", (Doc d, Random r, out string? t) =>
        {
            t = null;
            int depth = r.Next(100) == 0 ? 100_000 : 4 + r.Next(2000);
            switch (r.Next(5))
            {
                case 0: d.HeaderOverride = new string('[', depth) + new string(']', depth); break;
                case 1: d.HeaderOverride = string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth); break;
                case 2: Pick(d, r).Shape = new string('[', depth) + "1" + new string(']', depth); break;
                case 3: d.Metadata = string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "\"v\"" + new string('}', depth); break;
                default: Pick(d, r).Extra = ",\"x\":" + new string('[', depth) + new string(']', depth); break;
            }
            return Expect.Reject;
        }),
        ("metadata", (Doc d, Random r, out string? t) =>
        {
            t = null;
            string[] values = ["null", "[]", "{\"a\":1}", "{\"a\":\"x\",\"a\":\"y\"}", "{}", "{\"format\":\"pt\"}", "\"x\"", "{\"k\":{\"n\":\"v\"}}", "{\"k\":\"\\ud800\"}", "{\"\\u00e9\":\"\\u00e9\"}"];
            if (r.Next(8) == 0)
            {
                d.Entries.Insert(r.Next(d.Entries.Count + 1), new Entry("\"__metadata__\"", "[1]", new byte[4]));
                d.DataOrder = null;
                return Expect.Reject;
            }
            d.Metadata = r.Next(10) == 0 ? null : values[r.Next(values.Length)];
            return Expect.Any;
        }),
        ("tensor names", (Doc d, Random r, out string? t) =>
        {
            t = null;
            Entry e = Pick(d, r);
            string plain = e.Name.Trim('"');
            string[] names =
            [
                "\"\"", "\"\\ud800\"", "\"" + plain + " \"", "\"" + plain.ToUpperInvariant() + "\"",
                "\"" + plain.Replace(".", "\\u002e", StringComparison.Ordinal) + "\"", // the same name, escaped: loads
                "\"" + plain + "\\u0000\"", "\"" + new string('x', 1 + r.Next(10_000)) + "\"",
            ];
            e.Name = names[r.Next(names.Length)];
            return e.Name.Contains("\\u002e", StringComparison.Ordinal) ? Expect.Load : Expect.Reject;
        }),
        ("padding", (Doc d, Random r, out string? t) =>
        {
            t = null;
            switch (r.Next(4))
            {
                case 0: d.Padding = new string(' ', r.Next(64)); return Expect.Load;
                case 1: d.Padding = "\t\r\n "; return Expect.Load;
                case 2: d.Padding = "\0"; return Expect.Reject;
                default: d.Padding = ",{}"; return Expect.Reject;
            }
        }),
    ];

    private static readonly string[] ByteMutations = ["truncate", "header length", "header bytes", "insert, delete or append bytes"];

    private static Entry Pick(Doc d, Random r) => d.Entries[r.Next(d.Entries.Count)];

    private static string Shape(IEnumerable<long> dims) => "[" + string.Join(",", dims) + "]";

    /// <summary>Byte-level mutations of a built file.</summary>
    private static byte[] MutateBytes(byte[] bytes, int kind, Random r, out Expect expect)
    {
        int headerEnd = 8 + (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(bytes), (ulong)(bytes.Length - 8));
        expect = Expect.Any;
        switch (kind)
        {
            case 0: // a strict prefix: never a valid file (every tensor of the model holds data)
                expect = Expect.Reject;
                return bytes[..r.Next(bytes.Length)];
            case 1:
            {
                ulong[] lengths = [0, 1, 7, 8, ulong.MaxValue, ulong.MaxValue - 7, 1UL << 63, long.MaxValue, uint.MaxValue, int.MaxValue,
                    Safetensors.MaxHeaderLength, Safetensors.MaxHeaderLength + 1UL, (ulong)bytes.Length, (ulong)bytes.Length - 7];
                ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                ulong n = r.Next(3) switch
                {
                    0 => lengths[r.Next(lengths.Length)],
                    1 => (ulong)r.NextInt64(long.MinValue, long.MaxValue),
                    _ => unchecked(declared + (ulong)(r.Next(33) - 16)),
                };
                if (n == declared) n++;
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, n);
                if (n > (ulong)bytes.Length - 8) expect = Expect.Reject;
                return bytes;
            }
            case 2:
            {
                byte[] json = Encoding.ASCII.GetBytes("{}[]\",:0123456789-.eE \\u\"tfn_");
                for (int m = 1 + r.Next(4); m > 0; m--)
                {
                    int at = 8 + r.Next(headerEnd - 8);
                    bytes[at] = r.Next(3) switch
                    {
                        0 => json[r.Next(json.Length)],
                        1 => (byte)(bytes[at] ^ (1 << r.Next(8))),
                        _ => (byte)r.Next(256),
                    };
                }
                return bytes;
            }
            default:
            {
                int at = r.Next(8, bytes.Length + 1);
                switch (r.Next(3))
                {
                    case 0: return [.. bytes[..at], (byte)r.Next(256), .. bytes[at..]];
                    case 1: return at < bytes.Length ? [.. bytes[..at], .. bytes[(at + 1)..]] : bytes[..^1];
                    default:
                        expect = Expect.Reject; // the tensors no longer cover the data region
                        return [.. bytes, .. Enumerable.Range(0, 1 + r.Next(16)).Select(_ => (byte)r.Next(256))];
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------

    [Fact]
    public void Hostile_weight_files_only_throw_H3FormatException_and_never_change_the_model()
    {
        int iterations = Iterations;
        var model = new FuzzModel(seed: 7);
        float[] original = model.Parameters.ToArray();
        byte[] originalBits = Reliable.Bits(original);
        Doc baseDoc = BaseDoc(original);
        model.LoadWeights(new MemoryStream(baseDoc.Build())); // the unmutated file is valid

        using var dir = new Reliable.TempDir("h3-fuzz");
        string path = dir.File("fuzz.safetensors");
        int categories = Structured.Length + ByteMutations.Length + 1; // + combinations
        var tried = new int[categories];
        var rejected = new int[categories];
        long maxAllocated = 0, maxAllocatedSize = 0, allocationSlack = 0;
        double maxMilliseconds = 0;
        int onDisk = 0, nonSeekable = 0, parsedOnly = 0;
        var total = Stopwatch.StartNew();

        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var r = new Random(Seed + iteration);
            int category = iteration % categories;
            string? nonFinite = null;
            Expect expect;
            byte[] bytes;
            if (category < Structured.Length)
            {
                Doc doc = baseDoc.Clone();
                expect = Structured[category].Apply(doc, r, out nonFinite);
                if (Structured[category].Name.StartsWith("NaN", StringComparison.Ordinal)) Assert.NotNull(nonFinite);
                bytes = doc.Build();
            }
            else if (category < Structured.Length + ByteMutations.Length)
            {
                bytes = MutateBytes(baseDoc.Build(), category - Structured.Length, r, out expect);
            }
            else
            {
                // Two or three structured mutations, then sometimes a byte-level one: anything may happen.
                Doc doc = baseDoc.Clone();
                for (int m = 2 + r.Next(2); m > 0; m--) Structured[r.Next(Structured.Length)].Apply(doc, r, out _);
                bytes = doc.Build();
                if (r.Next(2) == 0) bytes = MutateBytes(bytes, r.Next(ByteMutations.Length), r, out _);
                expect = Expect.Any;
            }
            tried[category]++;
            string what = $"iteration {iteration} (seed {Seed + iteration}, {CategoryName(category)})";

            long startBytes = GC.GetAllocatedBytesForCurrentThread();
            long startTicks = Stopwatch.GetTimestamp();

            // 1. The runtime reader.
            SafetensorsFile? parsed = null;
            try
            {
                parsed = Safetensors.Parse(bytes);
                ExerciseReader(parsed, bytes.Length, what);
            }
            catch (H3FormatException)
            {
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"{what}: Safetensors.Parse let {ex.GetType().Name} escape: {ex.Message}\n{Hex(bytes)}");
            }

            // 2. The generated model's LoadWeights, from a stream (sometimes one that cannot seek).
            Stream stream = iteration % 7 == 0 ? new NonSeekableStream(bytes) : new MemoryStream(bytes, writable: false);
            if (stream is NonSeekableStream) nonSeekable++;
            H3FormatException? failure = Load(() => model.LoadWeights(stream), what, bytes);

            double ms = Stopwatch.GetElapsedTime(startTicks).TotalMilliseconds;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - startBytes;
            maxMilliseconds = Math.Max(maxMilliseconds, ms);
            if (allocated > maxAllocated) (maxAllocated, maxAllocatedSize) = (allocated, bytes.Length);
            allocationSlack = Math.Max(allocationSlack, allocated - 8L * bytes.Length);
            Assert.True(ms < 5_000, $"{what}: one file took {ms:F0} ms (a hang?)");
            Assert.True(allocated <= 8L * bytes.Length + (1 << 20),
                $"{what}: reading a {bytes.Length}-byte file allocated {allocated} bytes: an allocation driven by a header number?");

            // 3. Every 40th file also from disk, through LoadWeights(path): the same outcome, the same message.
            if (iteration % 40 == 0)
            {
                onDisk++;
                File.WriteAllBytes(path, bytes);
                byte[] before = Reliable.Bits(model.Parameters);
                H3FormatException? fromDisk = Load(() => model.LoadWeights(path), what + " from disk", bytes);
                Assert.Equal(failure?.Message, fromDisk?.Message);
                if (fromDisk is not null) Assert.Equal(before, Reliable.Bits(model.Parameters));
            }

            if (failure is null)
            {
                // Loaded: the reader accepted the file too, and the model holds exactly the file's values.
                Assert.True(parsed is not null, $"{what}: LoadWeights accepted a file Safetensors.Parse rejects");
                foreach (H3Tensor t in FuzzModel.Tensors)
                {
                    Assert.True(Reliable.Bits(parsed!.ReadF32(t.Name)).AsSpan().SequenceEqual(Reliable.Bits(model.Parameters.Slice(t.Offset, t.Length))),
                        $"{what}: tensor '{t.Name}' differs from the file after loading");
                }
                Assert.True(expect != Expect.Reject, $"{what}: the file should have been rejected but loaded\n{Hex(bytes)}");
                original.CopyTo(model.Parameters);
            }
            else
            {
                rejected[category]++;
                Assert.True(Reliable.Bits(model.Parameters).AsSpan().SequenceEqual(originalBits), $"{what}: a failed load changed the model");
                Assert.True(expect != Expect.Load, $"{what}: a valid file was rejected: {failure.Message}");
                Assert.False(string.IsNullOrWhiteSpace(failure.Message));
                if (nonFinite is not null)
                {
                    Assert.Equal(nonFinite, failure.TensorName);
                    Assert.Contains($"'{nonFinite}'", failure.Message, StringComparison.Ordinal);
                    // ... and the opt-in loads it bit for bit.
                    model.LoadWeights(new MemoryStream(bytes), allowNonFinite: true);
                    Assert.Equal(Reliable.Bits(parsed!.ReadF32(nonFinite)), Reliable.Bits(Slice(model, nonFinite)));
                    original.CopyTo(model.Parameters);
                }
            }
            if (parsed is not null && failure is not null) parsedOnly++;
        }
        total.Stop();

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"{iterations} mutated files in {total.Elapsed.TotalSeconds:F1} s ({onDisk} also from disk, {nonSeekable} from a non-seekable stream); slowest {maxMilliseconds:F1} ms; most allocated {maxAllocated} bytes for a {maxAllocatedSize}-byte file");
        report.AppendLine(CultureInfo.InvariantCulture, $"{parsedOnly} well-formed files rejected by the model (names, shapes, dtypes, NaN)");
        for (int c = 0; c < categories; c++) report.AppendLine(CultureInfo.InvariantCulture, $"  {CategoryName(c),-34} {tried[c],7} tried {rejected[c],7} rejected");
        output.WriteLine(report.ToString());

        // Every kind of mutation ran, and the kinds that may go either way did both.
        for (int c = 0; c < categories; c++) Assert.True(tried[c] >= iterations / categories, $"{CategoryName(c)} ran only {tried[c]} times");
        Assert.True(rejected[categories - 1] > 0 && rejected[categories - 1] < tried[categories - 1], "combined mutations should both load and fail");
    }

    private static string CategoryName(int c) =>
        c < Structured.Length ? Structured[c].Name
        : c < Structured.Length + ByteMutations.Length ? ByteMutations[c - Structured.Length]
        : "combined";

    private static Span<float> Slice(FuzzModel model, string name)
    {
        H3Tensor t = FuzzModel.Tensors.ToArray().Single(x => x.Name == name);
        return model.Parameters.Slice(t.Offset, t.Length);
    }

    /// <summary>Runs a load; returns its H3FormatException, or null when it loaded. Any other exception fails the test.</summary>
    private static H3FormatException? Load(Action load, string what, byte[] bytes)
    {
        try
        {
            load();
            return null;
        }
        catch (H3FormatException ex)
        {
            return ex;
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{what}: LoadWeights let {ex.GetType().Name} escape: {ex.Message}\n{Hex(bytes)}");
            return null;
        }
    }

    /// <summary>Whatever the reader accepted is self-consistent and every accessor works.</summary>
    private static void ExerciseReader(SafetensorsFile file, int fileLength, string what)
    {
        long covered = 0;
        foreach (SafetensorsEntry e in file.Entries)
        {
            Assert.True(e.DataBegin == covered, $"{what}: entries are not contiguous");
            covered = e.DataEnd;
            Assert.Equal(e.DataEnd - e.DataBegin, file.GetBytes(e).Length);
            Assert.Same(e, file.GetEntry(e.Name));
            if (e.DType == "F32") Assert.Equal(e.ElementCount, file.ReadF32(e.Name).Length);
            else Assert.Throws<H3FormatException>(() => file.ReadF32(e.Name));
        }
        Assert.True(covered < fileLength, $"{what}: the data region is larger than the file");
        foreach (KeyValuePair<string, string> pair in file.Metadata) Assert.NotNull(pair.Value);
    }

    private static string Hex(byte[] bytes) =>
        bytes.Length <= 600 ? Convert.ToHexString(bytes) : Convert.ToHexString(bytes, 0, 600) + $"... ({bytes.Length} bytes)";

    /// <summary>A read-only stream that cannot seek or report its length, like a network stream.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes, writable: false);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
