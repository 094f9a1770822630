using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

namespace H3.Tests;

/// <summary>
/// Tests of the safetensors reader/writer (<see cref="Safetensors"/>) and of <see cref="H3Weights"/>:
/// bit-exact round trips, the writer's byte layout, every reader rejection (files built by hand), a seeded
/// mutation loop in which only <see cref="H3FormatException"/> may escape, and all-or-nothing loading.
/// </summary>
public class SafetensorsTests
{
    // ---------------------------------------------------------------------------------------------------
    // Helpers

    /// <summary>A safetensors file from a header (single quotes become double quotes) and zero-filled data.</summary>
    private static byte[] File8(string json, int dataLength, bool pad = false)
    {
        byte[] header = Encoding.UTF8.GetBytes(json.Replace('\'', '"'));
        int n = pad ? (header.Length + 7) & ~7 : header.Length;
        var bytes = new byte[8 + n + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)n);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, n - header.Length).Fill((byte)' ');
        return bytes;
    }

    private static byte[] WithHeaderLength(byte[] bytes, ulong n)
    {
        byte[] copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, n);
        return copy;
    }

    private static string HeaderText(byte[] file)
    {
        int n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        return Encoding.UTF8.GetString(file, 8, n);
    }

    private static float[] FromBits(params uint[] bits) => bits.Select(b => BitConverter.UInt32BitsToSingle(b)).ToArray();

    private static uint[] Bits(ReadOnlySpan<float> values) => values.ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray();

    /// <summary>Floats whose bits must survive: NaN payloads (quiet and signalling, both signs), -0, subnormals, infinities.</summary>
    private static readonly float[] Special = FromBits(
        0x7FC00001, 0xFFC12345, 0x7F800001, 0xFFBFFFFF, // NaN payloads
        0x80000000, 0x00000000,                         // -0, +0
        0x00000001, 0x807FFFFF, 0x00400000,             // subnormals
        0x7F800000, 0xFF800000,                         // +-infinity
        0x7F7FFFFF, 0x3F800000, 0xBF9D70A4);            // max, 1, -1.23

    private static SafetensorsTensor[] SampleTensors() =>
    [
        new("layers.0.mixer.q_proj.weight", [2, 7], Enumerable.Range(0, 14).Select(i => i * 0.25f - 1f).ToArray()),
        new("special", [Special.Length], Special),
        new("scalar", [], new[] { 3.5f }),
        new("empty", [0, 3], ReadOnlyMemory<float>.Empty),
        new("input_proj.bias", [1, 1, 3], new[] { -0f, 1e-40f, float.NaN }),
    ];

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(Bits(expected), Bits(actual));
    }

    private static H3FormatException Rejects(byte[] bytes)
    {
        return Assert.Throws<H3FormatException>(() => Safetensors.Parse(bytes));
    }

    /// <summary>A directory that is deleted afterwards.</summary>
    private sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "h3-st-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string[] Files() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Round trips and the writer's layout

    [Fact]
    public void Safetensors_RoundTrip_IsBitExact()
    {
        SafetensorsTensor[] tensors = SampleTensors();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcödé \"quoted\" \\ <tag>" };
        byte[] bytes = Safetensors.Serialize(tensors, metadata);

        SafetensorsFile file = Safetensors.Parse(bytes);
        Assert.Equal(tensors.Length, file.Entries.Count);
        Assert.Equal(metadata.OrderBy(p => p.Key, StringComparer.Ordinal), file.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        foreach (SafetensorsTensor t in tensors)
        {
            SafetensorsEntry e = file.GetEntry(t.Name);
            Assert.Equal("F32", e.DType);
            Assert.Equal(t.Shape.Select(d => (long)d), e.Shape);
            Assert.Equal(t.Data.Length, e.ElementCount);
            AssertSameBits(t.Data.Span, file.ReadF32(t.Name));
            var span = new float[e.ElementCount];
            file.ReadF32(e, span);
            AssertSameBits(t.Data.Span, span);
            Assert.Equal(e.ElementCount * 4, file.GetBytes(e).Length);
        }
        // Written in the given order with contiguous offsets: Entries (data-offset order) is that order.
        Assert.Equal(tensors.Select(t => t.Name), file.Entries.Select(e => e.Name));
        long expectedBegin = 0;
        foreach (SafetensorsEntry e in file.Entries)
        {
            Assert.Equal(expectedBegin, e.DataBegin);
            expectedBegin = e.DataEnd;
        }
    }

    [Fact]
    public void Safetensors_WriteThenRead_IsBitExact_AndMatchesSerialize()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "t.safetensors");
        SafetensorsTensor[] tensors = SampleTensors();
        var metadata = new Dictionary<string, string> { ["k"] = "v" };
        Safetensors.Write(path, tensors, metadata);

        Assert.Equal(Safetensors.Serialize(tensors, metadata), File.ReadAllBytes(path));
        SafetensorsFile file = Safetensors.Read(path);
        AssertSameBits(Special, file.ReadF32("special"));
        Assert.Equal(new[] { "t.safetensors" }, dir.Files());
    }

    [Fact]
    public void Safetensors_Header_IsSpacePaddedToMultipleOf8()
    {
        for (int nameLength = 1; nameLength <= 16; nameLength++)
        {
            byte[] bytes = Safetensors.Serialize([new(new string('w', nameLength), [1], new[] { 1f })]);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0UL, n % 8);
            string header = HeaderText(bytes);
            string json = header.TrimEnd(' ');
            Assert.EndsWith("}", json, StringComparison.Ordinal);
            Assert.True(header.Length - json.Length < 8, $"padding of {header.Length - json.Length} bytes");
            Assert.Equal(8 + (long)n + 4, bytes.Length);
        }
    }

    [Fact]
    public void Safetensors_Serialize_IsDeterministic_WithSortedMetadata()
    {
        var m1 = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1", ["B"] = "3" };
        var m2 = new Dictionary<string, string> { ["B"] = "3", ["a"] = "1", ["b"] = "2" };
        SafetensorsTensor[] tensors = [new("w", [2], new[] { 1f, 2f }), new("v", [1], new[] { 3f })];
        byte[] first = Safetensors.Serialize(tensors, m1);
        Assert.Equal(first, Safetensors.Serialize(tensors, m2));
        Assert.Equal(first, Safetensors.Serialize(tensors, m1));

        string expected = """{"__metadata__":{"B":"3","a":"1","b":"2"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""";
        Assert.Equal(expected, HeaderText(first).TrimEnd(' '));
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40 }, first[^12..]);
    }

    [Fact]
    public void Safetensors_EmptyFile_RoundTrips()
    {
        byte[] bytes = Safetensors.Serialize([]);
        Assert.Equal(16, bytes.Length); // "{}" padded to 8
        SafetensorsFile file = Safetensors.Parse(bytes);
        Assert.Empty(file.Entries);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Safetensors_Reader_AcceptsAllKnownDTypes_ButReadF32RequiresF32()
    {
        byte[] bytes = File8(
            "{'a':{'dtype':'F64','shape':[1],'data_offsets':[0,8]}," +
            "'b':{'dtype':'F16','shape':[2],'data_offsets':[8,12]}," +
            "'c':{'dtype':'BF16','shape':[1],'data_offsets':[12,14]}," +
            "'d':{'dtype':'I64','shape':[1],'data_offsets':[14,22]}," +
            "'e':{'dtype':'I32','shape':[1],'data_offsets':[22,26]}," +
            "'f':{'dtype':'I16','shape':[1],'data_offsets':[26,28]}," +
            "'g':{'dtype':'I8','shape':[1],'data_offsets':[28,29]}," +
            "'h':{'dtype':'U8','shape':[1],'data_offsets':[29,30]}," +
            "'i':{'dtype':'BOOL','shape':[2],'data_offsets':[30,32]}}", 32, pad: true);
        SafetensorsFile file = Safetensors.Parse(bytes);
        Assert.Equal(9, file.Entries.Count);
        var ex = Assert.Throws<H3FormatException>(() => file.ReadF32("b"));
        Assert.Equal("b", ex.TensorName);
        Assert.Contains("expected dtype F32, file has F16", ex.Message, StringComparison.Ordinal);
        Assert.Throws<H3FormatException>(() => file.ReadF32(file.GetEntry("e"), new float[1]));
    }

    [Fact]
    public void Safetensors_Reader_EntriesAreInDataOffsetOrder_AndLookupsWork()
    {
        byte[] bytes = File8(
            "{'z':{'dtype':'F32','shape':[1],'data_offsets':[4,8]},'y':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 8);
        SafetensorsFile file = Safetensors.Parse(bytes);
        Assert.Equal(new[] { "y", "z" }, file.Entries.Select(e => e.Name));
        Assert.True(file.TryGetEntry("z", out SafetensorsEntry? z));
        Assert.Equal(4, z.DataBegin);
        Assert.False(file.TryGetEntry("x", out _));
        var missing = Assert.Throws<H3FormatException>(() => file.GetEntry("x"));
        Assert.Equal("x", missing.TensorName);
        Assert.Contains("'x'", missing.Message, StringComparison.Ordinal);

        var wrongLength = Assert.Throws<ArgumentException>(() => file.ReadF32(z, new float[2]));
        Assert.Equal("destination", wrongLength.ParamName);
        SafetensorsEntry foreign = Safetensors.Parse(bytes).GetEntry("z");
        Assert.Throws<ArgumentException>(() => file.GetBytes(foreign));
    }

    [Fact]
    public void Safetensors_Reader_ParsesTheSharedReferenceFiles()
    {
        string[] candidates = [Path.Combine(AppContext.BaseDirectory, "TestData", "small"), "/work/shared/testdata/small"];
        string? dir = candidates.FirstOrDefault(d => Directory.Exists(d) && Directory.GetFiles(d, "*.safetensors").Length > 0);
        if (dir is null) return; // the reference vectors are not present on this machine
        foreach (string path in Directory.GetFiles(dir, "*.safetensors"))
        {
            SafetensorsFile file = Safetensors.Read(path);
            Assert.NotEmpty(file.Entries);
            Assert.True(file.Metadata.ContainsKey("config"), path);
            // Re-serialising gives a file with the same tensors and values.
            SafetensorsTensor[] tensors = file.Entries
                .Select(e => new SafetensorsTensor(e.Name, e.Shape.Select(d => (int)d).ToArray(), file.ReadF32(e.Name)))
                .ToArray();
            SafetensorsFile again = Safetensors.Parse(Safetensors.Serialize(tensors, file.Metadata));
            foreach (SafetensorsTensor t in tensors) AssertSameBits(t.Data.Span, again.ReadF32(t.Name));
            Assert.Equal(file.Metadata["config"], again.Metadata["config"]);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Writer argument validation

    [Fact]
    public void Safetensors_Writer_RejectsBadTensors()
    {
        float[] one = [1f];
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("", [1], one)]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new(null!, [1], one)]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("__metadata__", [1], one)]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("a", [1], one), new("a", [1], one)]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("a", [-1], one)]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("a", null!, one)]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("bad\uD800", [1], one)]));
        var mismatch = Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("w", [2, 3], new float[5])]));
        Assert.Contains("'w'", mismatch.Message, StringComparison.Ordinal);
        Assert.Contains("6", mismatch.Message, StringComparison.Ordinal);
        Assert.Contains("5", mismatch.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([new("a", [1], one)], new Dictionary<string, string> { ["k"] = null! }));
        Assert.Throws<ArgumentNullException>(() => Safetensors.Serialize(null!));
    }

    [Fact]
    public void Safetensors_Write_WithBadArguments_CreatesNoFile()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "w.safetensors");
        Assert.Throws<ArgumentException>(() => Safetensors.Write(path, [new("a", [2], new float[1])]));
        Assert.Empty(dir.Files());
    }

    // ---------------------------------------------------------------------------------------------------
    // Reader rejections: the binary frame

    [Fact]
    public void Safetensors_Reader_RejectsFilesShorterThan8Bytes()
    {
        for (int length = 0; length < 8; length++)
        {
            H3FormatException ex = Rejects(new byte[length]);
            Assert.Contains($"{length} bytes", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Safetensors_Reader_RejectsBadHeaderLengths()
    {
        byte[] valid = Safetensors.Serialize([new("w", [1], new[] { 1f })]);
        Assert.Contains("header length is 0", Rejects(WithHeaderLength(valid, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("exceeds the", Rejects(WithHeaderLength(valid, (ulong)valid.Length - 7)).Message, StringComparison.Ordinal);
        Assert.Contains("limit", Rejects(WithHeaderLength(valid, 100_000_001)).Message, StringComparison.Ordinal);
        Assert.Contains("limit", Rejects(WithHeaderLength(valid, ulong.MaxValue)).Message, StringComparison.Ordinal); // -1 as signed
        Assert.Contains("limit", Rejects(WithHeaderLength(valid, 1UL << 63)).Message, StringComparison.Ordinal);
        Assert.Contains("limit", Rejects(WithHeaderLength(valid, uint.MaxValue)).Message, StringComparison.Ordinal);
        // A header length just past the header swallows data bytes: invalid JSON or wrong coverage.
        Rejects(WithHeaderLength(valid, BinaryPrimitives.ReadUInt64LittleEndian(valid) + 1));
        Rejects(WithHeaderLength(valid, BinaryPrimitives.ReadUInt64LittleEndian(valid) - 1));
    }

    [Fact]
    public void Safetensors_Reader_RejectsAHeaderAbove100MB_EvenIfTheFileHoldsIt()
    {
        var bytes = new byte[8 + 100_000_008];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100_000_008);
        Assert.Contains("limit of 100000000", Rejects(bytes).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Safetensors_Reader_RejectsInvalidUtf8()
    {
        byte[] bytes = File8("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4);
        bytes[10] = 0xFF; // inside the name
        Assert.Contains("UTF-8", Rejects(bytes).Message, StringComparison.Ordinal);
        byte[] overlong = File8("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4);
        overlong[10] = 0xC0; // an overlong encoding of '/' ...
        overlong[11] = 0xAF;
        Assert.Contains("UTF-8", Rejects(overlong).Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reader rejections: the JSON header (single quotes stand for double quotes)

    private const string W = "'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}";

    [Theory]
    // Not JSON, not an object, too deep.
    [InlineData("   ", 0, null, "not valid JSON")]
    [InlineData("{", 0, null, "not valid JSON")]
    [InlineData("{" + W + ",}", 4, null, "not valid JSON")]
    [InlineData("{" + W + "} x", 4, null, "not valid JSON")]
    [InlineData("{" + W + "}{}", 4, null, "not valid JSON")]
    [InlineData("{/*c*/" + W + "}", 4, null, "not valid JSON")]
    [InlineData("{'w\u0001':{}}", 0, null, "not valid JSON")]
    [InlineData("[]", 0, null, "must be a JSON object")]
    [InlineData("'text'", 0, null, "must be a JSON object")]
    [InlineData("42", 0, null, "must be a JSON object")]
    [InlineData("null", 0, null, "must be a JSON object")]
    [InlineData("{'w':{'dtype':'F32','shape':[[1]],'data_offsets':[0,4]}}", 4, null, "not valid JSON")]
    [InlineData("{'\\uD800':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, null, "cannot be decoded")]
    // Names.
    [InlineData("{" + W + "," + W + "}", 4, "w", "appears twice")]
    [InlineData("{'':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, "", "empty name")]
    [InlineData("{'w':[1]}", 0, "w", "expected an object")]
    [InlineData("{'w':'F32'}", 0, "w", "expected an object")]
    // Keys inside an entry.
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4],'extra':1}}", 4, "w", "unknown key 'extra'")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4],'x':{'y':1}}}", 4, "w", "unknown key 'x'")]
    [InlineData("{'w':{'dtype':'F32','dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, "w", "'dtype' appears twice")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'shape':[1],'data_offsets':[0,4]}}", 4, "w", "'shape' appears twice")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4],'data_offsets':[0,4]}}", 4, "w", "'data_offsets' appears twice")]
    [InlineData("{'w':{'shape':[1],'data_offsets':[0,4]}}", 4, "w", "missing 'dtype'")]
    [InlineData("{'w':{'dtype':'F32','data_offsets':[0,4]}}", 4, "w", "missing 'shape'")]
    [InlineData("{'w':{'dtype':'F32','shape':[1]}}", 4, "w", "missing 'data_offsets'")]
    [InlineData("{'w':{}}", 0, "w", "missing 'dtype'")]
    // dtype.
    [InlineData("{'w':{'dtype':'F8','shape':[1],'data_offsets':[0,1]}}", 1, "w", "unknown dtype 'F8'")]
    [InlineData("{'w':{'dtype':'f32','shape':[1],'data_offsets':[0,4]}}", 4, "w", "unknown dtype 'f32'")]
    [InlineData("{'w':{'dtype':4,'shape':[1],'data_offsets':[0,4]}}", 4, "w", "dtype must be a string")]
    [InlineData("{'w':{'dtype':null,'shape':[1],'data_offsets':[0,4]}}", 4, "w", "dtype must be a string")]
    // shape.
    [InlineData("{'w':{'dtype':'F32','shape':[-1],'data_offsets':[0,4]}}", 4, "w", "shape dimension -1 is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[1.5],'data_offsets':[0,4]}}", 4, "w", "shape dimension 1.5 is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[1.0],'data_offsets':[0,4]}}", 4, "w", "shape dimension 1.0 is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[1e0],'data_offsets':[0,4]}}", 4, "w", "shape dimension 1e0 is not")]
    [InlineData("{'w':{'dtype':'F32','shape':['1'],'data_offsets':[0,4]}}", 4, "w", "shape dimension \"1\" is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[true],'data_offsets':[0,4]}}", 4, "w", "shape dimension true is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[9223372036854775808],'data_offsets':[0,4]}}", 4, "w", "is not a non-negative 64-bit integer")]
    [InlineData("{'w':{'dtype':'F32','shape':1,'data_offsets':[0,4]}}", 4, "w", "shape must be an array")]
    [InlineData("{'w':{'dtype':'F32','shape':{},'data_offsets':[0,4]}}", 4, "w", "shape must be an array")]
    // Element count and byte size overflow (checked arithmetic).
    [InlineData("{'w':{'dtype':'F32','shape':[4294967296,4294967296],'data_offsets':[0,4]}}", 4, "w", "overflows")]
    [InlineData("{'w':{'dtype':'U8','shape':[9223372036854775807,2],'data_offsets':[0,4]}}", 4, "w", "overflows")]
    [InlineData("{'w':{'dtype':'F32','shape':[4611686018427387904],'data_offsets':[0,4]}}", 4, "w", "overflows")]
    [InlineData("{'w':{'dtype':'F64','shape':[0,9223372036854775807],'data_offsets':[0,4]}}", 4, "w", "needs 0 x 8 = 0 bytes")]
    // data_offsets.
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[4]}}", 4, "w", "found 1")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4,8]}}", 8, "w", "found 3")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[]}}", 4, "w", "found 0")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[-4,0]}}", 4, "w", "data offset -4 is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0,4.0]}}", 4, "w", "data offset 4.0 is not")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':'0,4'}}", 4, "w", "data_offsets must be an array")]
    [InlineData("{'w':{'dtype':'F32','shape':[0],'data_offsets':[4,0]}}", 4, "w", "begin after they end")]
    [InlineData("{'w':{'dtype':'F32','shape':[2],'data_offsets':[0,4]}}", 4, "w", "span 4 bytes but dtype F32 with shape [2] needs 2 x 4 = 8 bytes")]
    [InlineData("{'w':{'dtype':'F16','shape':[2],'data_offsets':[0,8]}}", 8, "w", "needs 2 x 2 = 4 bytes")]
    [InlineData("{'w':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 4, "w", "beyond the data region, which holds 4 bytes")]
    [InlineData("{'w':{'dtype':'F32','shape':[1],'data_offsets':[9223372036854775803,9223372036854775807]}}", 4, "w", "beyond the data region")]
    // Coverage of the data region: overlaps, holes, trailing bytes.
    [InlineData("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12, "b", "overlap tensor 'a' [0, 8]")]
    [InlineData("{'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]},'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 12, "b", "overlap tensor 'a'")]
    [InlineData("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},'b':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, "b", "overlap tensor 'a'")]
    [InlineData("{'a':{'dtype':'F32','shape':[4],'data_offsets':[0,16]},'z':{'dtype':'F32','shape':[0],'data_offsets':[8,8]}}", 16, "z", "overlap tensor 'a'")]
    [InlineData("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}", 12, "b", "hole of 4 bytes after tensor 'a'")]
    [InlineData("{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8, "a", "hole of 4 bytes after the start of the data")]
    [InlineData("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 8, null, "cover 4 bytes of data but 8 bytes follow")]
    [InlineData("{}", 4, null, "cover 0 bytes of data but 4 bytes follow")]
    // __metadata__.
    [InlineData("{'__metadata__':'x'}", 0, null, "must be an object of strings")]
    [InlineData("{'__metadata__':['x']}", 0, null, "must be an object of strings")]
    [InlineData("{'__metadata__':{'k':1}}", 0, null, "value for key 'k' must be a string")]
    [InlineData("{'__metadata__':{'k':null}}", 0, null, "value for key 'k' must be a string")]
    [InlineData("{'__metadata__':{'k':{'x':'y'}}}", 0, null, "value for key 'k' must be a string")]
    [InlineData("{'__metadata__':{'k':'a','k':'b'}}", 0, null, "holds key 'k' twice")]
    [InlineData("{'__metadata__':{},'__metadata__':{}}", 0, null, "'__metadata__' appears twice")]
    public void Safetensors_Reader_RejectsMalformedHeader(string json, int dataLength, string? tensor, string fragment)
    {
        foreach (bool pad in new[] { false, true })
        {
            H3FormatException ex = Rejects(File8(json, dataLength, pad));
            Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
            Assert.Equal(tensor, ex.TensorName);
            if (!string.IsNullOrEmpty(tensor)) Assert.Contains($"'{tensor}'", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Safetensors_Reader_RejectsNulPadding_AndAcceptsSpacePadding()
    {
        byte[] spaces = File8("{" + W + "}", 4, pad: true);
        Safetensors.Parse(spaces);
        byte[] nuls = (byte[])spaces.Clone();
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(nuls);
        for (int i = 8; i < 8 + n; i++) if (nuls[i] == (byte)' ') nuls[i] = 0;
        Assert.Contains("not valid JSON", Rejects(nuls).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Safetensors_Reader_AcceptsKeysInAnyOrder_AndScalars()
    {
        SafetensorsFile file = Safetensors.Parse(File8(
            "{'s':{'data_offsets':[0,4],'shape':[],'dtype':'F32'},'__metadata__':{'a':'b'}}", 4));
        SafetensorsEntry s = file.GetEntry("s");
        Assert.Empty(s.Shape);
        Assert.Equal(1, s.ElementCount);
        Assert.Equal("b", file.Metadata["a"]);
    }

    // ---------------------------------------------------------------------------------------------------
    // Mutation loop: whatever the bytes, only H3FormatException escapes.

    [Fact]
    public void Safetensors_Reader_MutatedFiles_OnlyThrowH3FormatException()
    {
        byte[] valid = File8(
            "{'__metadata__':{'format':'pt'}," +
            "'a':{'dtype':'F32','shape':[2,3],'data_offsets':[0,24]}," +
            "'b':{'dtype':'F16','shape':[4],'data_offsets':[24,32]}," +
            "'c':{'dtype':'U8','shape':[0],'data_offsets':[32,32]}," +
            "'d':{'dtype':'F32','shape':[],'data_offsets':[32,36]}}", 36, pad: true);
        Safetensors.Parse(valid);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        byte[] jsonBytes = Encoding.ASCII.GetBytes("{}[]\",:0123456789-.eE \\u\"tfn_");
        ulong[] lengths = [0, 1, 7, 8, ulong.MaxValue, ulong.MaxValue - 7, 1UL << 63, long.MaxValue, uint.MaxValue, 100_000_000, 100_000_001, (ulong)headerEnd];

        var random = new Random(20240611);
        int parsed = 0, rejected = 0;
        for (int iteration = 0; iteration < 3000; iteration++)
        {
            byte[] bytes = (byte[])valid.Clone();
            int kind = random.Next(8);
            int mutations = 1 + random.Next(3);
            for (int m = 0; m < mutations; m++)
            {
                switch (kind)
                {
                    case 0: // truncate
                        bytes = bytes[..random.Next(bytes.Length)];
                        break;
                    case 1: // flip a bit anywhere
                        if (bytes.Length > 0) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                        break;
                    case 2: // random byte in the header
                        if (bytes.Length > 8) bytes[8 + random.Next(Math.Min(bytes.Length, headerEnd) - 8)] = (byte)random.Next(256);
                        break;
                    case 3: // JSON-significant byte in the header
                        if (bytes.Length > 8) bytes[8 + random.Next(Math.Min(bytes.Length, headerEnd) - 8)] = jsonBytes[random.Next(jsonBytes.Length)];
                        break;
                    case 4: // huge, negative, small or random header length
                        if (bytes.Length >= 8)
                        {
                            ulong n = random.Next(2) == 0 ? lengths[random.Next(lengths.Length)] : (ulong)random.NextInt64();
                            BinaryPrimitives.WriteUInt64LittleEndian(bytes, n);
                        }
                        break;
                    case 5: // header length off by a little
                        if (bytes.Length >= 8)
                        {
                            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                            BinaryPrimitives.WriteUInt64LittleEndian(bytes, unchecked(n + (ulong)(random.Next(33) - 16)));
                        }
                        break;
                    case 6: // insert or delete a byte
                        if (bytes.Length > 8)
                        {
                            int at = random.Next(8, bytes.Length);
                            bytes = random.Next(2) == 0
                                ? [.. bytes[..at], (byte)random.Next(256), .. bytes[at..]]
                                : [.. bytes[..at], .. bytes[(at + 1)..]];
                        }
                        break;
                    default: // append bytes
                        bytes = [.. bytes, .. Enumerable.Range(0, 1 + random.Next(8)).Select(_ => (byte)random.Next(256))];
                        break;
                }
            }

            try
            {
                SafetensorsFile file = Safetensors.Parse(bytes);
                parsed++;
                // Whatever parsed must be self-consistent and readable.
                long covered = 0;
                foreach (SafetensorsEntry e in file.Entries)
                {
                    Assert.Equal(covered, e.DataBegin);
                    covered = e.DataEnd;
                    Assert.Equal(e.DataEnd - e.DataBegin, file.GetBytes(e).Length);
                    if (e.DType == "F32") Assert.Equal(e.ElementCount, file.ReadF32(e.Name).Length);
                }
                Assert.Equal(bytes.Length, 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes) + covered);
            }
            catch (H3FormatException)
            {
                rejected++;
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"iteration {iteration} (kind {kind}): {ex.GetType().Name} escaped: {ex.Message}\nbytes: {Convert.ToHexString(bytes)}");
            }
        }
        Assert.True(rejected > 2000, $"only {rejected} of 3000 mutations were rejected ({parsed} parsed)");
    }

    // ---------------------------------------------------------------------------------------------------
    // H3Weights

    private static H3Tensor[] Layout() =>
    [
        new("input_proj.weight", [8, 7], 0, H3Tensor.DefaultGroup),
        new("input_proj.bias", [8], 56, H3Tensor.DefaultGroup),
        new("layers.0.mixer.q_proj.weight", [8, 8], 64, H3Tensor.DefaultGroup),
        new("layers.0.mixer.ssm_k.log_dt", [3], 128, H3Tensor.SsmGroup),
    ];

    private const int ParameterCount = 131;

    private static float[] Parameters(int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, ParameterCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>The layout's tensors with the given parameters, with optional edits, as SafetensorsTensor values.</summary>
    private static List<SafetensorsTensor> AsTensors(float[] parameters) =>
        Layout().Select(t => new SafetensorsTensor(t.Name, t.Shape.ToArray(), parameters.AsMemory(t.Offset, t.Length))).ToList();

    /// <summary>Loading must fail with H3FormatException naming <paramref name="tensor"/> and leave the destination as it was.</summary>
    private static H3FormatException AssertLoadFails(string path, string? tensor, string fragment)
    {
        float[] destination = Enumerable.Repeat(42f, ParameterCount).ToArray();
        var ex = Assert.Throws<H3FormatException>(() => H3Weights.Load(path, Layout(), destination));
        Assert.Equal(tensor, ex.TensorName);
        if (tensor is not null) Assert.Contains($"'{tensor}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        Assert.All(destination, v => Assert.Equal(42f, v));
        return ex;
    }

    [Fact]
    public void H3Weights_SaveLoad_RoundTripsBitExact_WithMetadata()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "model.safetensors");
        float[] parameters = Parameters(1);
        Special.CopyTo(parameters, 64); // NaN payloads are saved and loaded as-is
        H3Weights.Save(path, Layout(), parameters, "TinyModel");

        SafetensorsFile file = Safetensors.Read(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("TinyModel", file.Metadata["h3.model"]);
        Assert.Equal(Layout().Select(t => t.Name), file.Entries.Select(e => e.Name));
        Assert.Equal(new long[] { 8, 7 }, file.GetEntry("input_proj.weight").Shape);

        var loaded = new float[ParameterCount];
        H3Weights.Load(path, Layout(), loaded, allowNonFinite: true);
        AssertSameBits(parameters, loaded);
        // Same bytes as the general-purpose writer.
        Assert.Equal(Safetensors.Serialize(AsTensors(parameters), new Dictionary<string, string> { ["format"] = "pt", ["h3.model"] = "TinyModel" }), File.ReadAllBytes(path));
    }

    [Fact]
    public void H3Weights_Load_AcceptsTensorsInAnyOrder()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        float[] parameters = Parameters(2);
        List<SafetensorsTensor> tensors = AsTensors(parameters);
        tensors.Reverse();
        Safetensors.Write(path, tensors);
        var loaded = new float[ParameterCount];
        H3Weights.Load(Safetensors.Read(path), Layout(), loaded);
        AssertSameBits(parameters, loaded);
    }

    [Fact]
    public void H3Weights_Load_WrongShape_NamesTensor_AndLeavesParametersUnchanged()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        List<SafetensorsTensor> tensors = AsTensors(Parameters(3));
        tensors[2] = new("layers.0.mixer.q_proj.weight", [8, 7], new float[56]);
        Safetensors.Write(path, tensors);
        H3FormatException ex = AssertLoadFails(path, "layers.0.mixer.q_proj.weight", "expected shape");
        Assert.Equal("tensor 'layers.0.mixer.q_proj.weight': expected shape [8, 8], file has [8, 7]", ex.Message);

        tensors[2] = new("layers.0.mixer.q_proj.weight", [64], new float[64]); // same count, other rank
        Safetensors.Write(path, tensors);
        AssertLoadFails(path, "layers.0.mixer.q_proj.weight", "expected shape [8, 8], file has [64]");
    }

    [Fact]
    public void H3Weights_Load_MissingOrExtraTensor_NamesIt()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        List<SafetensorsTensor> tensors = AsTensors(Parameters(4));
        tensors[1] = tensors[1] with { Name = "input_proj.biases" };
        Safetensors.Write(path, tensors);
        AssertLoadFails(path, "input_proj.bias", "missing from the file");

        tensors = AsTensors(Parameters(4));
        tensors.Add(new("layers.9.extra", [1], new[] { 1f }));
        Safetensors.Write(path, tensors);
        AssertLoadFails(path, "layers.9.extra", "not in the model");

        tensors.RemoveAt(0);
        Safetensors.Write(path, tensors);
        AssertLoadFails(path, "input_proj.weight", "missing");
    }

    [Fact]
    public void H3Weights_Load_WrongDType_NamesTensor()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        byte[] bytes = Safetensors.Serialize(AsTensors(Parameters(5)));
        // Same element size, so the file stays valid: only the dtype differs.
        string header = HeaderText(bytes);
        string edited = header.Replace("\"input_proj.bias\":{\"dtype\":\"F32\"", "\"input_proj.bias\":{\"dtype\":\"I32\"", StringComparison.Ordinal);
        Assert.NotEqual(header, edited);
        Encoding.UTF8.GetBytes(edited).CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        AssertLoadFails(path, "input_proj.bias", "expected dtype F32, file has I32");
    }

    [Fact]
    public void H3Weights_Load_TruncatedOrCorruptFile_Throws_AndLeavesParametersUnchanged()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        H3Weights.Save(path, Layout(), Parameters(6), "M");
        byte[] bytes = File.ReadAllBytes(path);

        File.WriteAllBytes(path, bytes[..^4]); // the last tensor's data is cut
        AssertLoadFails(path, "layers.0.mixer.ssm_k.log_dt", "beyond the data region");

        File.WriteAllBytes(path, bytes[..^12]);
        AssertLoadFails(path, "layers.0.mixer.ssm_k.log_dt", "truncated");

        File.WriteAllBytes(path, bytes[..100]); // cut inside the header
        AssertLoadFails(path, null, "header length");

        File.WriteAllBytes(path, bytes[..5]);
        AssertLoadFails(path, null, "5 bytes");

        File.WriteAllBytes(path, [.. bytes, 0, 0, 0, 0]); // trailing bytes
        AssertLoadFails(path, null, "cover");
    }

    [Fact]
    public void H3Weights_ArgumentErrors()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        var wrong = Assert.Throws<ArgumentException>(() => H3Weights.Save(path, Layout(), new float[ParameterCount - 1], "M"));
        Assert.Equal("parameters", wrong.ParamName);
        Assert.Contains($"{ParameterCount - 1}", wrong.Message, StringComparison.Ordinal);
        Assert.Contains($"{ParameterCount}", wrong.Message, StringComparison.Ordinal);
        Assert.Empty(dir.Files());

        H3Weights.Save(path, Layout(), Parameters(7), "M");
        var longer = new float[ParameterCount + 1];
        var ex = Assert.Throws<ArgumentException>(() => H3Weights.Load(path, Layout(), longer));
        Assert.Equal("parameters", ex.ParamName);
        Assert.All(longer, v => Assert.Equal(0f, v));

        Assert.Throws<FileNotFoundException>(() => H3Weights.Load(Path.Combine(dir.Path, "missing.safetensors"), Layout(), new float[ParameterCount]));
    }

    [Fact]
    public void H3Weights_Save_IsAtomic_OverwritesAndLeavesNoTempFiles()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        float[] first = Parameters(8), second = Parameters(9);
        H3Weights.Save(path, Layout(), first, "M");
        H3Weights.Save(path, Layout(), second, "M");
        Assert.Equal(new[] { "m.safetensors" }, dir.Files());
        var loaded = new float[ParameterCount];
        H3Weights.Load(path, Layout(), loaded);
        AssertSameBits(second, loaded);

        // A failing save (the destination is a directory) leaves no temporary file behind.
        string blocked = Path.Combine(dir.Path, "blocked");
        Directory.CreateDirectory(blocked);
        Assert.ThrowsAny<Exception>(() => H3Weights.Save(blocked, Layout(), first, "M"));
        Assert.ThrowsAny<Exception>(() => Safetensors.Write(blocked, AsTensors(first)));
        Assert.Equal(new[] { "blocked", "m.safetensors" }, dir.Files());
        Assert.True(Directory.Exists(blocked));

        // A save into a missing directory fails before anything is written.
        Assert.Throws<DirectoryNotFoundException>(() => H3Weights.Save(Path.Combine(dir.Path, "nope", "m.safetensors"), Layout(), first, "M"));
        Assert.Equal(new[] { "blocked", "m.safetensors" }, dir.Files());
    }
}
