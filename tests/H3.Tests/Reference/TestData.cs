using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace H3.Tests;

/// <summary>
/// Test data access: locates files under TestData/ (copied next to the test assembly) and reads
/// safetensors files. A minimal, independent reader (F32 only), for tests only.
/// </summary>
public static class TestData
{
    /// <summary>Full path of <c>TestData/{relative}</c> in the test output directory.</summary>
    public static string Path(string relative)
    {
        string full = System.IO.Path.Combine(AppContext.BaseDirectory, "TestData", relative);
        return File.Exists(full) || Directory.Exists(full)
            ? full
            : throw new FileNotFoundException($"test data '{relative}' not found (looked for {full})", full);
    }

    /// <summary>
    /// Reads a safetensors file: 8-byte little-endian header length, JSON header
    /// {name: {dtype, shape, data_offsets}}, then the raw data. Entries are returned in the
    /// order of their data offsets (the order they were written in).
    /// </summary>
    public static Dictionary<string, (int[] Shape, float[] Data)> ReadSafetensors(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        int dataStart = checked(8 + (int)headerLength);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var entries = new List<(long Begin, string Name, int[] Shape, float[] Data)>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                continue;
            }
            string dtype = prop.Value.GetProperty("dtype").GetString() ?? "";
            if (dtype != "F32")
            {
                throw new NotSupportedException($"{path}: '{prop.Name}' has dtype {dtype}; only F32 is supported");
            }
            int[] shape = prop.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var offsets = prop.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            long count = shape.Aggregate(1L, (a, d) => a * d);
            if (offsets[1] - offsets[0] != count * 4)
            {
                throw new InvalidDataException($"{path}: '{prop.Name}' offsets do not match its shape");
            }
            float[] data = new float[count];
            for (int i = 0; i < count; i++)
            {
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(checked(dataStart + (int)offsets[0] + 4 * i), 4));
            }
            entries.Add((offsets[0], prop.Name, shape, data));
        }
        return entries.OrderBy(e => e.Begin).ToDictionary(e => e.Name, e => (e.Shape, e.Data));
    }

    /// <summary>Widens float32 data to float64.</summary>
    public static double[] ToDouble(float[] data) => Array.ConvertAll(data, v => (double)v);
}
