using System;
using System.Collections.Generic;
using System.IO;

namespace H3;

/// <summary>
/// Saves and loads a generated model's flat parameters as a safetensors file: one <c>F32</c> tensor per
/// <see cref="H3Tensor"/> of the model's layout, under the PyTorch names of H3-SPEC.md.
/// </summary>
public static class H3Weights
{
    /// <summary>
    /// Saves parameters atomically (temporary file in the same directory, flushed to disk, then renamed over
    /// <paramref name="path"/>), with metadata <c>{"format":"pt","h3.model":modelName}</c>.
    /// </summary>
    /// <param name="path">The destination file; replaced if it exists.</param>
    /// <param name="layout">The model's tensors, written in this order.</param>
    /// <param name="parameters">The flat parameters; each tensor is <c>parameters.Slice(Offset, Length)</c>.</param>
    /// <param name="modelName">The model's name, stored as <c>h3.model</c> metadata.</param>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> does not have the length the layout
    /// requires, or the layout is inconsistent (duplicate names, a tensor outside the parameters).</exception>
    /// <exception cref="IOException">The file cannot be written; <paramref name="path"/> is then untouched.</exception>
    public static void Save(string path, ReadOnlySpan<H3Tensor> layout, ReadOnlySpan<float> parameters, string modelName)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(modelName);
        CheckLayout(layout, parameters.Length);

        var items = new Safetensors.HeaderItem[layout.Length];
        for (int i = 0; i < layout.Length; i++) items[i] = new(layout[i].Name, layout[i].Shape, layout[i].Length);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = "pt",
            ["h3.model"] = modelName,
        };
        byte[] header = Safetensors.BuildHeader(items, metadata, nameof(layout));

        string temp = Safetensors.NewTempPath(path);
        FileStream stream = Safetensors.CreateTempFile(temp);
        try
        {
            using (stream)
            {
                stream.Write(header);
                foreach (H3Tensor tensor in layout)
                {
                    Safetensors.WriteF32LittleEndian(stream, parameters.Slice(tensor.Offset, tensor.Length));
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            Safetensors.TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Loads parameters from a safetensors file. Everything is validated before <paramref name="parameters"/>
    /// changes: on any error it is left untouched. NaN and infinite values are rejected (see
    /// <see cref="Load(SafetensorsFile, ReadOnlySpan{H3Tensor}, Span{float}, bool)"/>).
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="layout">The model's tensors.</param>
    /// <param name="parameters">The flat parameters to overwrite.</param>
    /// <exception cref="H3FormatException">The file is malformed, or a tensor is missing, extra, not
    /// <c>F32</c>, of another shape, or holds a NaN or infinite value; the message names the tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> does not have the length the layout requires.</exception>
    /// <exception cref="IOException">The file cannot be read (for example <see cref="FileNotFoundException"/>).</exception>
    public static void Load(string path, ReadOnlySpan<H3Tensor> layout, Span<float> parameters)
        => Load(path, layout, parameters, allowNonFinite: false);

    /// <summary>
    /// Loads parameters from a safetensors file. Everything is validated before <paramref name="parameters"/>
    /// changes: on any error it is left untouched.
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="layout">The model's tensors.</param>
    /// <param name="parameters">The flat parameters to overwrite.</param>
    /// <param name="allowNonFinite">Load NaN and infinite values bit for bit instead of rejecting the file.</param>
    /// <exception cref="H3FormatException">The file is malformed, or a tensor is missing, extra, not
    /// <c>F32</c>, of another shape, or (unless allowed) holds a NaN or infinite value; the message names the tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> does not have the length the layout requires.</exception>
    /// <exception cref="IOException">The file cannot be read (for example <see cref="FileNotFoundException"/>).</exception>
    public static void Load(string path, ReadOnlySpan<H3Tensor> layout, Span<float> parameters, bool allowNonFinite)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        CheckLayout(layout, parameters.Length);
        Load(Safetensors.Read(path), layout, parameters, allowNonFinite);
    }

    /// <summary>
    /// Loads parameters from a safetensors stream (read to its end). Everything is validated before
    /// <paramref name="parameters"/> changes: on any error it is left untouched.
    /// </summary>
    /// <param name="stream">A readable stream holding a safetensors file; it is not closed.</param>
    /// <param name="layout">The model's tensors.</param>
    /// <param name="parameters">The flat parameters to overwrite.</param>
    /// <param name="allowNonFinite">Load NaN and infinite values bit for bit instead of rejecting the file.</param>
    /// <exception cref="H3FormatException">As for <see cref="Load(string, ReadOnlySpan{H3Tensor}, Span{float}, bool)"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> does not have the length the layout requires,
    /// or the stream cannot be read.</exception>
    /// <exception cref="IOException">Reading the stream fails.</exception>
    public static void Load(Stream stream, ReadOnlySpan<H3Tensor> layout, Span<float> parameters, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckLayout(layout, parameters.Length);
        Load(Safetensors.Read(stream), layout, parameters, allowNonFinite);
    }

    /// <summary>
    /// Loads parameters from a parsed safetensors file, rejecting NaN and infinite values (see
    /// <see cref="Load(SafetensorsFile, ReadOnlySpan{H3Tensor}, Span{float}, bool)"/>).
    /// </summary>
    /// <param name="file">The parsed file.</param>
    /// <param name="layout">The model's tensors.</param>
    /// <param name="parameters">The flat parameters to overwrite.</param>
    /// <exception cref="H3FormatException">A tensor is missing, extra, not <c>F32</c>, of another shape, or holds a
    /// NaN or infinite value; the message names the tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> does not have the length the layout requires.</exception>
    public static void Load(SafetensorsFile file, ReadOnlySpan<H3Tensor> layout, Span<float> parameters)
        => Load(file, layout, parameters, allowNonFinite: false);

    /// <summary>
    /// Loads parameters from a parsed safetensors file. Everything is validated before
    /// <paramref name="parameters"/> changes: on any error it is left untouched.
    /// </summary>
    /// <param name="file">The parsed file.</param>
    /// <param name="layout">The model's tensors.</param>
    /// <param name="parameters">The flat parameters to overwrite.</param>
    /// <param name="allowNonFinite">
    /// <see langword="false"/> (the default of the other overloads): a NaN or infinite value is an
    /// <see cref="H3FormatException"/> naming the tensor and the element, because one such weight makes every output
    /// of the model NaN. <see langword="true"/>: values are loaded bit for bit, NaN payloads included.
    /// </param>
    /// <remarks>
    /// The file must hold exactly the layout's tensors (any order), each <c>F32</c> with exactly the layout's shape.
    /// </remarks>
    /// <exception cref="H3FormatException">A tensor is missing, extra, not <c>F32</c>, of another shape, or (unless
    /// allowed) holds a NaN or infinite value; the message names the tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> does not have the length the layout requires.</exception>
    public static void Load(SafetensorsFile file, ReadOnlySpan<H3Tensor> layout, Span<float> parameters, bool allowNonFinite)
    {
        ArgumentNullException.ThrowIfNull(file);
        CheckLayout(layout, parameters.Length);

        // Every name, dtype and shape first.
        var expected = new HashSet<string>(StringComparer.Ordinal);
        var entries = new SafetensorsEntry[layout.Length];
        for (int i = 0; i < layout.Length; i++)
        {
            H3Tensor tensor = layout[i];
            expected.Add(tensor.Name);
            if (!file.TryGetEntry(tensor.Name, out SafetensorsEntry? entry))
            {
                throw new H3FormatException(
                    $"tensor '{tensor.Name}': missing from the file (expected F32 {tensor.ShapeText})", tensor.Name);
            }
            if (entry.DType != "F32")
            {
                throw new H3FormatException(
                    $"tensor '{tensor.Name}': expected dtype F32, file has {entry.DType}", tensor.Name);
            }
            if (!SameShape(tensor.Shape, entry.Shape))
            {
                throw new H3FormatException(
                    $"tensor '{tensor.Name}': expected shape {tensor.ShapeText}, file has {Safetensors.FormatShape(entry.Shape)}",
                    tensor.Name);
            }
            entries[i] = entry;
        }
        foreach (SafetensorsEntry entry in file.Entries)
        {
            if (!expected.Contains(entry.Name))
            {
                throw new H3FormatException(
                    $"tensor '{entry.Name}': in the file but not in the model ({layout.Length} tensors expected)", entry.Name);
            }
        }

        // Then the values, into a staging copy; the caller's parameters change only once all is read and checked.
        float[] staging = parameters.ToArray();
        for (int i = 0; i < layout.Length; i++)
        {
            Span<float> values = staging.AsSpan(layout[i].Offset, layout[i].Length);
            file.ReadF32(entries[i], values);
            if (!allowNonFinite) CheckFinite(layout[i], values);
        }
        staging.CopyTo(parameters);
    }

    /// <summary>Throws an <see cref="H3FormatException"/> naming the tensor and element of the first NaN or infinity.</summary>
    private static void CheckFinite(H3Tensor tensor, ReadOnlySpan<float> values)
    {
        int first = -1, count = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsFinite(values[i])) continue;
            if (first < 0) first = i;
            count++;
        }
        if (first < 0) return;
        float value = values[first];
        string what = float.IsNaN(value)
            ? $"NaN (bits 0x{BitConverter.SingleToUInt32Bits(value):X8})"
            : float.IsPositiveInfinity(value) ? "+infinity" : "-infinity";
        throw new H3FormatException(
            $"tensor '{tensor.Name}': element {ElementIndex(tensor.Shape, first)} of {tensor.ShapeText} is {what}, and {count} of its {values.Length} values are not finite; " +
            "a NaN or infinite weight makes every output NaN, so the file is rejected and the model left unchanged (load with allowNonFinite: true to accept it)",
            tensor.Name);
    }

    /// <summary>Formats a flat row-major index as <c>[i, j, ...]</c> of <paramref name="shape"/>.</summary>
    private static string ElementIndex(IReadOnlyList<int> shape, int flat)
    {
        var index = new int[shape.Count];
        for (int d = shape.Count - 1; d >= 0; d--)
        {
            int size = Math.Max(shape[d], 1);
            index[d] = flat % size;
            flat /= size;
        }
        return "[" + string.Join(", ", index) + "]";
    }

    /// <summary>Checks that the layout has unique names and exactly covers <paramref name="parameterCount"/> floats.</summary>
    private static void CheckLayout(ReadOnlySpan<H3Tensor> layout, int parameterCount)
    {
        long total = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (H3Tensor tensor in layout)
        {
            if (tensor is null) throw new ArgumentException("The layout holds a null tensor.", nameof(layout));
            if (!names.Add(tensor.Name)) throw new ArgumentException($"The layout holds tensor '{tensor.Name}' twice.", nameof(layout));
            total += tensor.Length;
        }
        if (total != parameterCount)
        {
            throw new ArgumentException(
                $"parameters has length {parameterCount}; the layout's {layout.Length} tensors hold {total} values.",
                "parameters");
        }
        foreach (H3Tensor tensor in layout)
        {
            if ((long)tensor.Offset + tensor.Length > parameterCount)
            {
                throw new ArgumentException(
                    $"tensor '{tensor.Name}' at offset {tensor.Offset} with {tensor.Length} values lies outside the {parameterCount} parameters.",
                    nameof(layout));
            }
        }
    }

    private static bool SameShape(IReadOnlyList<int> expected, IReadOnlyList<long> actual)
    {
        if (expected.Count != actual.Count) return false;
        for (int i = 0; i < expected.Count; i++)
        {
            if (expected[i] != actual[i]) return false;
        }
        return true;
    }
}
