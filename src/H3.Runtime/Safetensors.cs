using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace H3;

// The safetensors format (https://github.com/huggingface/safetensors):
//
//   [8 bytes]  n, the header length, unsigned 64-bit little-endian
//   [n bytes]  UTF-8 JSON: {"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]}, ..., "__metadata__":{"k":"v"}}
//              (padded with spaces; this writer pads n to a multiple of 8 so the data starts 8-byte aligned)
//   [rest]     the tensors' raw little-endian bytes; data_offsets are relative to the start of this region
//
// The reader trusts nothing in the file: every number from the header is range-checked before it is used
// as a size or an index, and every failure is an H3FormatException. It uses Utf8JsonReader directly (no
// reflection, no JsonSerializer), so it is trimming- and NativeAOT-safe.

/// <summary>A tensor to write to a safetensors file, stored as <c>F32</c>.</summary>
/// <param name="Name">The tensor's name: non-empty, unique within the file, and not <c>__metadata__</c>.</param>
/// <param name="Shape">The tensor's shape (row-major); every dimension is non-negative. An empty shape is a scalar.</param>
/// <param name="Data">The values; the length must equal the product of <paramref name="Shape"/>.</param>
public readonly record struct SafetensorsTensor(string Name, int[] Shape, ReadOnlyMemory<float> Data);

/// <summary>One tensor described in a safetensors header, as validated by <see cref="Safetensors.Parse"/>.</summary>
public sealed class SafetensorsEntry
{
    internal SafetensorsEntry(string name, string dtype, long[] shape, long elementCount, long dataBegin, long dataEnd, int headerIndex)
    {
        Name = name;
        DType = dtype;
        Shape = Array.AsReadOnly(shape);
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
        HeaderIndex = headerIndex;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The element type as written in the header: <c>F64</c>, <c>F32</c>, <c>F16</c>, <c>BF16</c>,
    /// <c>I64</c>, <c>I32</c>, <c>I16</c>, <c>I8</c>, <c>U8</c> or <c>BOOL</c>.</summary>
    public string DType { get; }

    /// <summary>The tensor's shape (row-major). Empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>Offset of the tensor's first byte, relative to the start of the data region.</summary>
    public long DataBegin { get; }

    /// <summary>Offset one past the tensor's last byte, relative to the start of the data region.</summary>
    public long DataEnd { get; }

    /// <summary>Position of the entry in the header's JSON object (used to order ties deterministically).</summary>
    internal int HeaderIndex { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name} {DType} {Safetensors.FormatShape(Shape)} [{DataBegin}, {DataEnd})";
}

/// <summary>
/// A parsed and fully validated safetensors file held in memory. Create one with <see cref="Safetensors.Read(string)"/>
/// or <see cref="Safetensors.Parse"/>.
/// </summary>
public sealed class SafetensorsFile
{
    private readonly byte[] _bytes;
    private readonly int _dataStart;
    private readonly Dictionary<string, SafetensorsEntry> _byName;

    internal SafetensorsFile(byte[] bytes, int dataStart, SafetensorsEntry[] entriesInDataOrder,
        Dictionary<string, SafetensorsEntry> byName, Dictionary<string, string> metadata)
    {
        _bytes = bytes;
        _dataStart = dataStart;
        _byName = byName;
        Entries = Array.AsReadOnly(entriesInDataOrder);
        Metadata = new ReadOnlyDictionary<string, string>(metadata);
    }

    /// <summary>The tensors, in the order of their data offsets.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The header's <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Looks a tensor up by name (ordinal comparison).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="entry">The tensor, when found.</param>
    /// <returns><see langword="true"/> if the file holds a tensor of that name.</returns>
    public bool TryGetEntry(string name, [MaybeNullWhen(false)] out SafetensorsEntry entry)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.TryGetValue(name, out entry);
    }

    /// <summary>Returns the tensor of the given name.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>The tensor's entry.</returns>
    /// <exception cref="H3FormatException">The file holds no tensor of that name.</exception>
    public SafetensorsEntry GetEntry(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out SafetensorsEntry? entry)) return entry;
        throw new H3FormatException($"tensor '{name}' is not in the file (the file holds {_byName.Count} tensors)", name);
    }

    /// <summary>Returns the raw (little-endian) bytes of a tensor.</summary>
    /// <param name="entry">An entry of this file.</param>
    /// <returns>The tensor's <c>DataEnd - DataBegin</c> bytes.</returns>
    /// <exception cref="ArgumentException"><paramref name="entry"/> does not belong to this file.</exception>
    public ReadOnlySpan<byte> GetBytes(SafetensorsEntry entry)
    {
        CheckOwned(entry);
        // Both offsets were checked against the data region's length (an int) by Parse.
        return _bytes.AsSpan(_dataStart + (int)entry.DataBegin, (int)(entry.DataEnd - entry.DataBegin));
    }

    /// <summary>Copies an <c>F32</c> tensor into <paramref name="destination"/>, bit for bit (NaN payloads,
    /// negative zero and subnormals are preserved).</summary>
    /// <param name="entry">An entry of this file.</param>
    /// <param name="destination">Exactly <see cref="SafetensorsEntry.ElementCount"/> floats.</param>
    /// <exception cref="ArgumentException"><paramref name="entry"/> does not belong to this file, or
    /// <paramref name="destination"/> has the wrong length.</exception>
    /// <exception cref="H3FormatException">The tensor's dtype is not <c>F32</c>.</exception>
    public void ReadF32(SafetensorsEntry entry, Span<float> destination)
    {
        ReadOnlySpan<byte> bytes = GetBytes(entry);
        if (entry.DType != "F32")
        {
            throw new H3FormatException(
                $"tensor '{entry.Name}': expected dtype F32, file has {entry.DType}", entry.Name);
        }
        if (destination.Length != entry.ElementCount)
        {
            throw new ArgumentException(
                $"destination has length {destination.Length}; tensor '{entry.Name}' {Safetensors.FormatShape(entry.Shape)} holds {entry.ElementCount} values.",
                nameof(destination));
        }
        Safetensors.ReadF32LittleEndian(bytes, destination);
    }

    /// <summary>Returns a new array holding the values of the named <c>F32</c> tensor.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>The tensor's values in row-major order.</returns>
    /// <exception cref="H3FormatException">The tensor is missing or its dtype is not <c>F32</c>.</exception>
    public float[] ReadF32(string name)
    {
        SafetensorsEntry entry = GetEntry(name);
        if (entry.DType != "F32")
        {
            throw new H3FormatException($"tensor '{entry.Name}': expected dtype F32, file has {entry.DType}", entry.Name);
        }
        // ElementCount * 4 == DataEnd - DataBegin <= data length (an int), so this allocation is bounded by the file.
        var values = new float[entry.ElementCount];
        ReadF32(entry, values);
        return values;
    }

    private void CheckOwned(SafetensorsEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!_byName.TryGetValue(entry.Name, out SafetensorsEntry? own) || !ReferenceEquals(own, entry))
        {
            throw new ArgumentException($"The entry for tensor '{entry.Name}' does not belong to this file.", nameof(entry));
        }
    }
}

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a UTF-8 JSON header
/// describing each tensor's dtype, shape and byte range, then the raw little-endian data.
/// </summary>
/// <remarks>
/// The reader validates the whole file before returning (see <see cref="Parse"/>); the writer stores
/// <c>F32</c> tensors contiguously in the given order, pads the header with spaces to a multiple of 8 bytes,
/// sorts metadata keys ordinally, and so produces the same bytes for the same input.
/// No reflection is used: the code is trimming- and NativeAOT-safe.
/// </remarks>
public static class Safetensors
{
    /// <summary>The largest header the reader accepts (100 MB), as in the reference implementation.</summary>
    public const int MaxHeaderLength = 100_000_000;

    private const string MetadataKey = "__metadata__";

    /// <summary>Reads and validates a safetensors file.</summary>
    /// <param name="path">The file's path.</param>
    /// <returns>The parsed file (the whole file is held in memory).</returns>
    /// <exception cref="H3FormatException">The file is malformed (see <see cref="Parse"/>), or larger than
    /// the largest byte array.</exception>
    /// <exception cref="IOException">The file cannot be read (for example
    /// <see cref="FileNotFoundException"/>).</exception>
    public static SafetensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            long length = stream.Length;
            if (length > Array.MaxLength)
            {
                throw new H3FormatException(
                    $"file '{path}' is {length} bytes; files larger than {Array.MaxLength} bytes are not supported");
            }
            bytes = new byte[length];
            stream.ReadExactly(bytes);
        }
        return Parse(bytes);
    }

    /// <summary>Reads and validates a safetensors file from a stream (read to its end from its current position).</summary>
    /// <param name="stream">A readable stream; it is not closed.</param>
    /// <returns>The parsed file (the whole content is held in memory).</returns>
    /// <exception cref="H3FormatException">The content is malformed (see <see cref="Parse"/>), or longer than
    /// the largest byte array.</exception>
    /// <exception cref="IOException">The stream cannot be read.</exception>
    public static SafetensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead) throw new ArgumentException("The stream cannot be read.", nameof(stream));
        return Parse(ReadToEnd(stream));
    }

    /// <summary>
    /// Reads a stream to its end into an exactly sized array. The size comes from the stream's length when it can
    /// seek (never from the content), otherwise the array grows with what is actually read.
    /// </summary>
    private static byte[] ReadToEnd(Stream stream)
    {
        if (stream.CanSeek)
        {
            long remaining = Math.Max(0, stream.Length - stream.Position);
            if (remaining > Array.MaxLength)
            {
                throw new H3FormatException(
                    $"stream holds {remaining} bytes; files larger than {Array.MaxLength} bytes are not supported");
            }
            var bytes = new byte[remaining];
            stream.ReadExactly(bytes);
            return bytes;
        }
        using var copy = new MemoryStream();
        byte[] chunk = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int n;
            while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
            {
                if (copy.Length + n > Array.MaxLength)
                {
                    throw new H3FormatException($"stream holds more than {Array.MaxLength} bytes; larger files are not supported");
                }
                copy.Write(chunk, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return copy.ToArray();
    }

    /// <summary>Parses and validates a safetensors file held in memory.</summary>
    /// <param name="bytes">The file's bytes. The returned object takes ownership: do not modify the array afterwards.</param>
    /// <returns>The parsed file.</returns>
    /// <remarks>
    /// Every problem is reported as an <see cref="H3FormatException"/> (never another exception type) whose
    /// message names the tensor involved: a file shorter than 8 bytes; a header length of 0, beyond the file
    /// or above <see cref="MaxHeaderLength"/>; a header that is not UTF-8 JSON, not an object, or nested deeper
    /// than the format needs; duplicate names; unknown or missing keys in an entry; shape dimensions that are
    /// not non-negative integers or whose product overflows; an unknown dtype (F64, F32, F16, BF16, I64, I32,
    /// I16, I8, U8 and BOOL are known); data_offsets that are not two non-negative integers with begin &lt;= end,
    /// that disagree with the shape and dtype, or that leave the data region; overlapping tensors, holes between
    /// tensors, or trailing bytes; and a <c>__metadata__</c> that is not an object of strings.
    /// </remarks>
    /// <exception cref="H3FormatException">The bytes are not a valid safetensors file.</exception>
    public static SafetensorsFile Parse(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 8)
        {
            throw new H3FormatException(
                $"file is {bytes.Length} bytes long; a safetensors file needs at least 8 bytes for its header length");
        }

        // Header length: an unsigned 64-bit number straight from the file; check it before using it.
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        long available = bytes.Length - 8L;
        if (declared == 0)
        {
            throw new H3FormatException("header length is 0; the header must hold at least a JSON object");
        }
        if (declared > MaxHeaderLength)
        {
            throw new H3FormatException(
                $"header length {declared} (as signed: {(long)declared}) exceeds the limit of {MaxHeaderLength} bytes");
        }
        if (declared > (ulong)available)
        {
            throw new H3FormatException(
                $"header length {declared} exceeds the {available} bytes that follow the length field (file is {bytes.Length} bytes)");
        }

        int headerLength = (int)declared;
        int dataStart = 8 + headerLength;
        int dataLength = bytes.Length - dataStart;
        ReadOnlySpan<byte> header = bytes.AsSpan(8, headerLength);
        if (!Utf8.IsValid(header))
        {
            throw new H3FormatException($"header ({headerLength} bytes) is not valid UTF-8");
        }

        var entries = new List<SafetensorsEntry>();
        var byName = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        Dictionary<string, string>? metadata = null;
        try
        {
            // Depth 1: the header object; 2: an entry or __metadata__; 3: a shape or data_offsets array.
            var reader = new Utf8JsonReader(header, new JsonReaderOptions
            {
                MaxDepth = 3,
                CommentHandling = JsonCommentHandling.Disallow,
                AllowTrailingCommas = false,
            });
            Next(ref reader, null);
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new H3FormatException($"header must be a JSON object; found {Describe(ref reader)}");
            }
            while (true)
            {
                Next(ref reader, null);
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string key = reader.GetString()!;
                if (key == MetadataKey)
                {
                    if (metadata is not null) throw new H3FormatException($"'{MetadataKey}' appears twice in the header");
                    metadata = ReadMetadata(ref reader);
                    continue;
                }
                if (key.Length == 0) throw new H3FormatException("the header holds a tensor with an empty name", key);
                if (byName.ContainsKey(key)) throw new H3FormatException($"tensor '{key}' appears twice in the header", key);
                SafetensorsEntry entry = ReadEntry(ref reader, key, entries.Count, dataLength);
                byName.Add(key, entry);
                entries.Add(entry);
            }
            // Anything but whitespace after the object makes the reader throw.
            if (reader.Read()) throw new H3FormatException("unexpected content after the header's JSON object");
        }
        catch (JsonException ex)
        {
            throw new H3FormatException($"header is not valid JSON: {ex.Message}", null, ex);
        }
        catch (InvalidOperationException ex)
        {
            // GetString on text that cannot become UTF-16 (e.g. an escaped lone surrogate).
            throw new H3FormatException($"header JSON holds a string that cannot be decoded: {ex.Message}", null, ex);
        }

        // The data region must be covered exactly: sorted by offset, each tensor starts where the previous ends.
        SafetensorsEntry[] ordered = entries.ToArray();
        Array.Sort(ordered, static (a, b) =>
        {
            int c = a.DataBegin.CompareTo(b.DataBegin);
            if (c != 0) return c;
            c = a.DataEnd.CompareTo(b.DataEnd);
            return c != 0 ? c : a.HeaderIndex.CompareTo(b.HeaderIndex);
        });
        long position = 0;
        SafetensorsEntry? previous = null;
        foreach (SafetensorsEntry entry in ordered)
        {
            if (entry.DataBegin < position)
            {
                throw new H3FormatException(
                    $"tensor '{entry.Name}': data_offsets [{entry.DataBegin}, {entry.DataEnd}] overlap tensor '{previous!.Name}' [{previous.DataBegin}, {previous.DataEnd}]",
                    entry.Name);
            }
            if (entry.DataBegin > position)
            {
                string after = previous is null ? "the start of the data" : $"tensor '{previous.Name}' (which ends at {position})";
                throw new H3FormatException(
                    $"tensor '{entry.Name}': data_offsets begin at {entry.DataBegin}, leaving a hole of {entry.DataBegin - position} bytes after {after}; safetensors data must be contiguous",
                    entry.Name);
            }
            position = entry.DataEnd;
            previous = entry;
        }
        if (position != dataLength)
        {
            throw new H3FormatException(
                $"the tensors cover {position} bytes of data but {dataLength} bytes follow the header: 8 + {headerLength} + {position} = {8L + headerLength + position}, file length is {bytes.Length}");
        }

        return new SafetensorsFile(bytes, dataStart, ordered, byName, metadata ?? new Dictionary<string, string>(StringComparer.Ordinal));
    }

    /// <summary>
    /// Writes <c>F32</c> tensors to a safetensors file atomically: the bytes go to a temporary file in the
    /// same directory (<c>path + ".tmp-" + random</c>), which is flushed to disk and then renamed over
    /// <paramref name="path"/>. On failure the temporary file is deleted and <paramref name="path"/> is untouched.
    /// </summary>
    /// <param name="path">The destination file; replaced if it exists.</param>
    /// <param name="tensors">The tensors, written in this order with contiguous offsets.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> (keys written in ordinal order; omitted when null or empty).</param>
    /// <exception cref="ArgumentException">A tensor has an empty, duplicate or reserved name, a negative
    /// dimension, or a data length that differs from its shape's product; or a metadata value is null.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Write(string path, IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] header = BuildHeader(ToHeaderItems(tensors), metadata, nameof(tensors));
        string temp = NewTempPath(path);
        FileStream stream = CreateTempFile(temp);
        try
        {
            using (stream)
            {
                stream.Write(header);
                for (int i = 0; i < tensors.Count; i++) WriteF32LittleEndian(stream, tensors[i].Data.Span);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Serializes <c>F32</c> tensors to safetensors bytes (the same bytes <see cref="Write"/> writes).</summary>
    /// <param name="tensors">The tensors, written in this order with contiguous offsets.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> (keys written in ordinal order; omitted when null or empty).</param>
    /// <returns>The file's bytes.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Write"/>, or the result would exceed the largest byte array.</exception>
    public static byte[] Serialize(IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        HeaderItem[] items = ToHeaderItems(tensors);
        byte[] header = BuildHeader(items, metadata, nameof(tensors));
        long total = header.Length;
        foreach (HeaderItem item in items) total += item.ElementCount * sizeof(float);
        if (total > Array.MaxLength)
        {
            throw new ArgumentException($"The file would be {total} bytes, more than a byte array holds; use Write.", nameof(tensors));
        }
        var bytes = new byte[total];
        header.CopyTo(bytes, 0);
        int offset = header.Length;
        for (int i = 0; i < tensors.Count; i++)
        {
            ReadOnlySpan<float> data = tensors[i].Data.Span;
            WriteF32LittleEndian(data, bytes.AsSpan(offset, data.Length * sizeof(float)));
            offset += data.Length * sizeof(float);
        }
        return bytes;
    }

    // ---------------------------------------------------------------------------------------------------
    // Writer helpers (shared with H3Weights).

    /// <summary>One tensor of a header being written: always F32.</summary>
    internal readonly record struct HeaderItem(string Name, IReadOnlyList<int> Shape, long ElementCount);

    private static HeaderItem[] ToHeaderItems(IReadOnlyList<SafetensorsTensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new HeaderItem[tensors.Count];
        for (int i = 0; i < items.Length; i++)
        {
            SafetensorsTensor t = tensors[i];
            if (t.Shape is null) throw new ArgumentException($"tensors[{i}] ('{t.Name}') has a null shape.", nameof(tensors));
            long count = ElementCountOf(t.Shape, t.Name, nameof(tensors));
            if (t.Data.Length != count)
            {
                throw new ArgumentException(
                    $"tensor '{t.Name}': shape {FormatShape(t.Shape)} holds {count} values but Data has length {t.Data.Length}.",
                    nameof(tensors));
            }
            items[i] = new HeaderItem(t.Name, t.Shape, count);
        }
        return items;
    }

    /// <summary>The product of a shape, checking each dimension; throws ArgumentException naming the tensor.</summary>
    internal static long ElementCountOf(IReadOnlyList<int> shape, string? name, string paramName)
    {
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': shape {FormatShape(shape)} has a negative dimension.", paramName);
            count = Math.Min(count * d, (long)int.MaxValue + 1); // saturate: no F32 tensor of more values fits in memory anyway
        }
        return count;
    }

    /// <summary>
    /// Builds the 8-byte length and the JSON header, space-padded to a multiple of 8, validating names
    /// (non-empty, unique, well-formed, not <c>__metadata__</c>) and metadata.
    /// </summary>
    internal static byte[] BuildHeader(ReadOnlySpan<HeaderItem> items, IReadOnlyDictionary<string, string>? metadata, string paramName)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (HeaderItem item in items)
        {
            if (string.IsNullOrEmpty(item.Name)) throw new ArgumentException("A tensor has a null or empty name.", paramName);
            if (item.Name == MetadataKey) throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor.", paramName);
            if (!IsWellFormedUtf16(item.Name)) throw new ArgumentException($"tensor '{item.Name}': the name holds an unpaired surrogate.", paramName);
            if (!names.Add(item.Name)) throw new ArgumentException($"tensor '{item.Name}' appears twice.", paramName);
        }

        string[] keys = [];
        if (metadata is not null)
        {
            keys = new string[metadata.Count];
            int k = 0;
            foreach (KeyValuePair<string, string> pair in metadata)
            {
                if (k == keys.Length) throw new ArgumentException("The metadata changed while it was being read.", nameof(metadata));
                if (pair.Key is null || !IsWellFormedUtf16(pair.Key)) throw new ArgumentException("A metadata key is null or holds an unpaired surrogate.", nameof(metadata));
                if (pair.Value is null) throw new ArgumentException($"metadata '{pair.Key}' has a null value.", nameof(metadata));
                if (!IsWellFormedUtf16(pair.Value)) throw new ArgumentException($"metadata '{pair.Key}': the value holds an unpaired surrogate.", nameof(metadata));
                keys[k++] = pair.Key;
            }
            if (k != keys.Length) throw new ArgumentException("The metadata changed while it was being read.", nameof(metadata));
            Array.Sort(keys, StringComparer.Ordinal);
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.GetSpan(8)[..8].Clear(); // room for the length, filled in below
        buffer.Advance(8);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false }))
        {
            json.WriteStartObject();
            if (keys.Length > 0)
            {
                json.WriteStartObject(MetadataKey);
                foreach (string key in keys) json.WriteString(key, metadata![key]);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (HeaderItem item in items)
            {
                json.WriteStartObject(item.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in item.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += item.ElementCount * sizeof(float);
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        int jsonLength = buffer.WrittenCount - 8;
        int padded = (jsonLength + 7) & ~7;
        if (padded > MaxHeaderLength)
        {
            throw new ArgumentException($"The header would be {padded} bytes, more than readers accept ({MaxHeaderLength}).", paramName);
        }
        var header = new byte[8 + padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(8 + jsonLength).Fill((byte)' ');
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        return header;
    }

    /// <summary>A fresh temporary path next to <paramref name="path"/>.</summary>
    internal static string NewTempPath(string path) =>
        path + ".tmp-" + RandomNumberGenerator.GetHexString(16, lowercase: true);

    /// <summary>Creates the temporary file; fails rather than reuse an existing one.</summary>
    internal static FileStream CreateTempFile(string tempPath) =>
        new(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.None);

    /// <summary>Deletes a temporary file after a failure, ignoring further errors so the original one surfaces.</summary>
    internal static void TryDelete(string tempPath)
    {
        try
        {
            File.Delete(tempPath);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Writes floats as little-endian bytes to a stream.</summary>
    internal static void WriteF32LittleEndian(Stream stream, ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        Span<byte> chunk = stackalloc byte[1024];
        while (!values.IsEmpty)
        {
            int n = Math.Min(values.Length, chunk.Length / sizeof(float));
            WriteF32LittleEndian(values[..n], chunk[..(n * sizeof(float))]);
            stream.Write(chunk[..(n * sizeof(float))]);
            values = values[n..];
        }
    }

    /// <summary>Copies floats into little-endian bytes (<paramref name="destination"/> holds 4 bytes per value).</summary>
    internal static void WriteF32LittleEndian(ReadOnlySpan<float> values, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return;
        }
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(i * sizeof(float)), values[i]);
        }
    }

    /// <summary>Copies little-endian bytes into floats, bit for bit; the bytes need no alignment.</summary>
    internal static void ReadF32LittleEndian(ReadOnlySpan<byte> bytes, Span<float> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(destination));
            return;
        }
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i * sizeof(float)));
        }
    }

    /// <summary>Formats a shape as <c>[8, 7]</c>, the same way as <see cref="H3Tensor.ShapeText"/>.</summary>
    internal static string FormatShape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Formats a shape as <c>[8, 7]</c>, the same way as <see cref="H3Tensor.ShapeText"/>.</summary>
    internal static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>The byte size of a known dtype, or 0.</summary>
    internal static int DTypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" => 8,
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => 0,
    };

    private static bool IsWellFormedUtf16(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------
    // Reader helpers.

    /// <summary>Advances the reader; the header ending early is a format error.</summary>
    private static void Next(ref Utf8JsonReader reader, string? tensorName)
    {
        if (!reader.Read())
        {
            throw new H3FormatException(
                tensorName is null ? "header JSON ends early" : $"tensor '{tensorName}': header JSON ends early",
                tensorName);
        }
    }

    /// <summary>Reads <c>{"dtype":..,"shape":[..],"data_offsets":[b,e]}</c> and checks it against itself and the data region.</summary>
    private static SafetensorsEntry ReadEntry(ref Utf8JsonReader reader, string name, int headerIndex, int dataLength)
    {
        Next(ref reader, name);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new H3FormatException(
                $"tensor '{name}': expected an object with dtype, shape and data_offsets; found {Describe(ref reader)}", name);
        }
        string? dtype = null;
        List<long>? shape = null;
        long begin = 0, end = 0;
        bool haveOffsets = false;
        while (true)
        {
            Next(ref reader, name);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string key = reader.GetString()!;
            switch (key)
            {
                case "dtype":
                    if (dtype is not null) throw Duplicate(name, key);
                    Next(ref reader, name);
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new H3FormatException($"tensor '{name}': dtype must be a string; found {Describe(ref reader)}", name);
                    }
                    dtype = reader.GetString()!;
                    break;

                case "shape":
                    if (shape is not null) throw Duplicate(name, key);
                    shape = ReadIntegers(ref reader, name, key, "shape dimension");
                    break;

                case "data_offsets":
                    if (haveOffsets) throw Duplicate(name, key);
                    List<long> offsets = ReadIntegers(ref reader, name, key, "data offset");
                    if (offsets.Count != 2)
                    {
                        throw new H3FormatException(
                            $"tensor '{name}': data_offsets must hold 2 integers [begin, end]; found {offsets.Count}", name);
                    }
                    (begin, end, haveOffsets) = (offsets[0], offsets[1], true);
                    break;

                default:
                    throw new H3FormatException(
                        $"tensor '{name}': unknown key '{key}' (an entry holds only dtype, shape and data_offsets)", name);
            }
        }

        if (dtype is null) throw Missing(name, "dtype");
        if (shape is null) throw Missing(name, "shape");
        if (!haveOffsets) throw Missing(name, "data_offsets");

        int size = DTypeSize(dtype);
        if (size == 0)
        {
            throw new H3FormatException(
                $"tensor '{name}': unknown dtype '{dtype}' (known: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)", name);
        }
        long count = 1;
        long byteLength;
        try
        {
            foreach (long d in shape) count = checked(count * d);
            byteLength = checked(count * size);
        }
        catch (OverflowException ex)
        {
            throw new H3FormatException(
                $"tensor '{name}': the size of dtype {dtype} with shape {FormatShape(shape)} overflows a 64-bit integer", name, ex);
        }
        if (begin > end)
        {
            throw new H3FormatException($"tensor '{name}': data_offsets [{begin}, {end}] begin after they end", name);
        }
        if (end > dataLength)
        {
            throw new H3FormatException(
                $"tensor '{name}': data_offsets [{begin}, {end}] reach beyond the data region, which holds {dataLength} bytes (is the file truncated?)",
                name);
        }
        if (end - begin != byteLength)
        {
            throw new H3FormatException(
                $"tensor '{name}': data_offsets [{begin}, {end}] span {end - begin} bytes but dtype {dtype} with shape {FormatShape(shape)} needs {count} x {size} = {byteLength} bytes",
                name);
        }
        return new SafetensorsEntry(name, dtype, shape.ToArray(), count, begin, end, headerIndex);
    }

    /// <summary>Reads an array of non-negative 64-bit integers (its length is bounded by the header's size).</summary>
    private static List<long> ReadIntegers(ref Utf8JsonReader reader, string name, string key, string what)
    {
        Next(ref reader, name);
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new H3FormatException($"tensor '{name}': {key} must be an array of integers; found {Describe(ref reader)}", name);
        }
        var values = new List<long>();
        while (true)
        {
            Next(ref reader, name);
            if (reader.TokenType == JsonTokenType.EndArray) return values;
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
            {
                throw new H3FormatException(
                    $"tensor '{name}': {what} {Describe(ref reader)} is not a non-negative 64-bit integer", name);
            }
            values.Add(value);
        }
    }

    /// <summary>Reads <c>__metadata__</c>: an object of string values with unique keys.</summary>
    private static Dictionary<string, string> ReadMetadata(ref Utf8JsonReader reader)
    {
        Next(ref reader, null);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new H3FormatException($"'{MetadataKey}' must be an object of strings; found {Describe(ref reader)}");
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            Next(ref reader, null);
            if (reader.TokenType == JsonTokenType.EndObject) return metadata;
            string key = reader.GetString()!;
            Next(ref reader, null);
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new H3FormatException($"'{MetadataKey}' value for key '{key}' must be a string; found {Describe(ref reader)}");
            }
            if (!metadata.TryAdd(key, reader.GetString()!))
            {
                throw new H3FormatException($"'{MetadataKey}' holds key '{key}' twice");
            }
        }
    }

    private static H3FormatException Duplicate(string name, string key) =>
        new($"tensor '{name}': key '{key}' appears twice", name);

    private static H3FormatException Missing(string name, string key) =>
        new($"tensor '{name}': missing '{key}' (an entry needs dtype, shape and data_offsets)", name);

    /// <summary>Describes the current token for a message, quoting at most 40 bytes of its text.</summary>
    private static string Describe(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject: return "an object";
            case JsonTokenType.StartArray: return "an array";
            case JsonTokenType.True: return "true";
            case JsonTokenType.False: return "false";
            case JsonTokenType.Null: return "null";
            case JsonTokenType.Number:
            case JsonTokenType.String:
                ReadOnlySpan<byte> raw = reader.ValueSpan; // the header was checked to be valid UTF-8
                string text = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, 40)]);
                if (raw.Length > 40) text += "...";
                return reader.TokenType == JsonTokenType.String ? "\"" + text + "\"" : text;
            default:
                return reader.TokenType.ToString();
        }
    }
}
