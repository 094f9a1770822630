using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace H3.Tests.Models;

/// <summary>
/// SaveWeights/LoadWeights of the generated models: bit-exact round trips, the file's names, shapes, dtype and
/// metadata (checked against the test-side layout of H3-SPEC.md), every rejection (wrong name, shape, dtype,
/// missing, extra, truncated, another configuration) with the model left unchanged, the independent reference
/// weights, and atomic saving.
/// </summary>
public class WeightsTests
{
    // ---------------------------------------------------------------------------------------------------
    // Helpers

    /// <summary>A fresh temporary directory, deleted with everything in it on dispose.</summary>
    private sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "h3-weights-tests-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        /// <summary>The names of every entry in the directory (files and subdirectories), sorted.</summary>
        public string[] Entries() =>
            Directory.GetFileSystemEntries(Path).Select(e => System.IO.Path.GetFileName(e)!).OrderBy(e => e, StringComparer.Ordinal).ToArray();

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    /// <summary>Every sweep model plus the default configuration.</summary>
    public static IEnumerable<object[]> AllNames()
    {
        foreach (object[] name in Sweep.Names()) yield return name;
        yield return new object[] { "Default" };
    }

    private static IH3Model Create(string name, int seed = 0) =>
        name == "Default" ? new DefaultModel(seed) : Sweep.Models[name](seed);

    private static byte[] Bytes(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    /// <summary>Floats whose bits must survive a round trip: NaN payloads, -0, subnormals, infinities, extremes.</summary>
    private static readonly uint[] SpecialBits =
    [
        0x7FC00001, 0xFFC12345, 0x7F800001, 0xFFBFFFFF, 0x80000000, 0x00000001, 0x807FFFFF, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0x00800000,
    ];

    /// <summary>A model of the given configuration whose parameters are away from their initial values and hold special floats.</summary>
    private static IH3Model Source(string name, int seed)
    {
        IH3Model model = Create(name, seed);
        Sweep.Perturb(model, seed + 100);
        Span<float> p = model.Parameters;
        for (int i = 0; i < SpecialBits.Length && i < p.Length; i++)
        {
            p[(int)((long)i * 7919 % p.Length)] = BitConverter.UInt32BitsToSingle(SpecialBits[i]);
        }
        return model;
    }

    /// <summary>The model's tensors as runtime safetensors tensors (copies), for building altered files.</summary>
    private static List<SafetensorsTensor> TensorsOf(IH3Model model)
    {
        var list = new List<SafetensorsTensor>();
        foreach (H3Tensor t in model.Tensors)
        {
            list.Add(new SafetensorsTensor(t.Name, t.Shape.ToArray(), model.Parameters.Slice(t.Offset, t.Length).ToArray()));
        }
        return list;
    }

    /// <summary>One tensor of a hand-built file: any dtype, raw little-endian bytes.</summary>
    private sealed record RawTensor(string Name, string DType, long[] Shape, byte[] Data);

    private static RawTensor Raw(SafetensorsTensor t)
    {
        var data = new byte[t.Data.Length * 4];
        for (int i = 0; i < t.Data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * i), t.Data.Span[i]);
        return new RawTensor(t.Name, "F32", t.Shape.Select(d => (long)d).ToArray(), data);
    }

    /// <summary>Builds a safetensors file by hand (independent of the runtime's writer): any dtype per tensor.</summary>
    private static byte[] BuildFile(IReadOnlyList<RawTensor> tensors)
    {
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteEndObject();
            long offset = 0;
            foreach (RawTensor t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType);
                w.WriteStartArray("shape");
                foreach (long d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += t.Data.Length;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        byte[] header = json.ToArray();
        int padded = (header.Length + 7) & ~7;
        using var file = new MemoryStream();
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        file.Write(length);
        file.Write(header);
        for (int i = header.Length; i < padded; i++) file.WriteByte((byte)' ');
        foreach (RawTensor t in tensors) file.Write(t.Data);
        return file.ToArray();
    }

    /// <summary>
    /// Loads <paramref name="path"/> into <paramref name="model"/> expecting an <see cref="H3FormatException"/>;
    /// checks that the model's parameters did not change and returns the exception.
    /// </summary>
    private static H3FormatException AssertLoadFails(IH3Model model, string path)
    {
        byte[] before = Bytes(model.Parameters);
        H3FormatException ex = Assert.Throws<H3FormatException>(() => model.LoadWeights(path));
        Assert.True(before.AsSpan().SequenceEqual(Bytes(model.Parameters)), $"the parameters changed although loading failed: {ex.Message}");
        return ex;
    }

    private static void AssertNames(H3FormatException ex, string tensor)
    {
        Assert.Equal(tensor, ex.TensorName);
        Assert.Contains(tensor, ex.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------------
    // Round trip and file contents

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Save_then_load_into_a_differently_seeded_model_is_bit_exact(string name)
    {
        using var dir = new TempDir();
        string path = dir.File("weights.safetensors");
        IH3Model source = Source(name, seed: 1);
        byte[] expected = Bytes(source.Parameters);
        source.SaveWeights(path);
        Assert.Equal(expected, Bytes(source.Parameters)); // saving does not touch the model

        IH3Model target = Create(name, seed: 2);
        Assert.False(expected.AsSpan().SequenceEqual(Bytes(target.Parameters)));
        byte[] before = Bytes(target.Parameters);
        var rejected = Assert.Throws<H3FormatException>(() => target.LoadWeights(path)); // NaN/Inf are rejected by default
        Assert.NotNull(rejected.TensorName);
        Assert.Contains("allowNonFinite", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(before, Bytes(target.Parameters));
        target.LoadWeights(path, allowNonFinite: true);
        Assert.True(expected.AsSpan().SequenceEqual(Bytes(target.Parameters)), $"{name}: loaded parameters differ from the saved ones");

        // Saving the loaded model writes the same bytes (the writer is deterministic).
        string again = dir.File("again.safetensors");
        target.SaveWeights(again);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
        Assert.Equal(new[] { "again.safetensors", "weights.safetensors" }, dir.Entries());
    }

    [Theory]
    [MemberData(nameof(Sweep.Names), MemberType = typeof(Sweep))]
    public void Saved_file_holds_the_spec_names_shapes_F32_data_and_metadata(string name)
    {
        using var dir = new TempDir();
        string path = dir.File("w.safetensors");
        IH3Model model = Source(name, seed: 3);
        model.SaveWeights(path);

        var layout = Sweep.ConfigOf(model).Layout();
        SafetensorsFile file = Safetensors.Read(path);
        Assert.Equal(layout.Select(l => l.Name), file.Entries.Select(e => e.Name)); // in layout order
        long expectedBegin = 0;
        for (int i = 0; i < layout.Count; i++)
        {
            SafetensorsEntry e = file.Entries[i];
            Assert.Equal("F32", e.DType);
            Assert.Equal(layout[i].Shape.Select(d => (long)d), e.Shape);
            Assert.Equal(expectedBegin, e.DataBegin);
            expectedBegin = e.DataEnd;
        }
        Assert.Equal(4L * model.Info.ParameterCount, expectedBegin);

        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(model.GetType().Name, file.Metadata["h3.model"]);

        // The data, bit for bit, through the runtime reader and through the independent test reader.
        var independent = TestData.ReadSafetensors(path);
        Assert.Equal(layout.Select(l => l.Name), independent.Keys);
        foreach (H3Tensor t in model.Tensors)
        {
            byte[] expected = Bytes(model.Parameters.Slice(t.Offset, t.Length));
            Assert.Equal(expected, Bytes(file.ReadF32(t.Name)));
            Assert.Equal(expected, Bytes(independent[t.Name].Data));
            Assert.Equal(t.Shape.ToArray(), independent[t.Name].Shape);
        }

        // Header length + header + data, nothing else.
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(8 + headerLength + 4L * model.Info.ParameterCount, bytes.Length);
    }

    [Fact]
    public void Loads_the_independent_reference_weights()
    {
        string path = TestData.Path("small/weights.safetensors");
        var reference = TestData.ReadSafetensors(path);
        var model = new SmallModel(seed: 8);
        model.LoadWeights(path);
        Assert.Equal(SmallModel.Tensors.Length, reference.Count);
        foreach (H3Tensor t in SmallModel.Tensors)
        {
            var (shape, data) = reference[t.Name];
            Assert.Equal(t.Shape.ToArray(), shape);
            Assert.True(Bytes(data).AsSpan().SequenceEqual(Bytes(model.Parameters.Slice(t.Offset, t.Length))), $"{t.Name} differs from the reference file");
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Rejections: the exception names the tensor, the model is unchanged

    /// <summary>Writes <paramref name="tensors"/> (from a differently seeded SmallModel) and loads them into a fresh SmallModel.</summary>
    private static H3FormatException LoadAltered(Func<List<RawTensor>, List<RawTensor>> alter)
    {
        using var dir = new TempDir();
        string path = dir.File("altered.safetensors");
        List<RawTensor> tensors = TensorsOf(Source("Small", seed: 4)).Select(Raw).ToList();
        File.WriteAllBytes(path, BuildFile(alter(tensors)));
        var model = new SmallModel(seed: 5);
        return AssertLoadFails(model, path);
    }

    private static List<RawTensor> Replace(List<RawTensor> tensors, string name, Func<RawTensor, RawTensor> change)
    {
        int i = tensors.FindIndex(t => t.Name == name);
        Assert.True(i >= 0, name);
        tensors[i] = change(tensors[i]);
        return tensors;
    }

    [Fact]
    public void Hand_built_file_with_the_right_tensors_loads()
    {
        // The control for the rejection tests below: the same construction, unaltered, is accepted.
        using var dir = new TempDir();
        string path = dir.File("ok.safetensors");
        IH3Model source = Source("Small", seed: 4);
        File.WriteAllBytes(path, BuildFile(TensorsOf(source).Select(Raw).ToList()));
        var model = new SmallModel(seed: 5);
        model.LoadWeights(path, allowNonFinite: true);
        Assert.Equal(Bytes(source.Parameters), Bytes(model.Parameters));
    }

    [Fact]
    public void Wrong_tensor_name_is_rejected()
    {
        H3FormatException ex = LoadAltered(ts => Replace(ts, "final_norm.bias", t => t with { Name = "final_norm.bias_" }));
        Assert.True(ex.TensorName is "final_norm.bias" or "final_norm.bias_", $"TensorName {ex.TensorName}");
        Assert.Contains(ex.TensorName!, ex.Message, StringComparison.Ordinal);

        H3FormatException ex2 = LoadAltered(ts => Replace(ts, "layers.1.mixer.q_proj.weight", t => t with { Name = "layers.1.mixer.Q_proj.weight" }));
        Assert.True(ex2.TensorName is "layers.1.mixer.q_proj.weight" or "layers.1.mixer.Q_proj.weight", $"TensorName {ex2.TensorName}");
        Assert.Contains(ex2.TensorName!, ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_shape_with_the_same_element_count_is_rejected()
    {
        H3FormatException ex = LoadAltered(ts => Replace(ts, "final_norm.weight", t => t with { Shape = [2, 4] }));
        AssertNames(ex, "final_norm.weight");
        Assert.Contains("[8]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("[2, 4]", ex.Message, StringComparison.Ordinal);

        // A transposed Linear weight: [H, F] stored as [F, H].
        H3FormatException ex2 = LoadAltered(ts => Replace(ts, "layers.1.mlp.fc2.weight", t => t with { Shape = [32, 8] }));
        AssertNames(ex2, "layers.1.mlp.fc2.weight");
    }

    [Fact]
    public void Wrong_shape_with_another_element_count_is_rejected()
    {
        H3FormatException ex = LoadAltered(ts => Replace(ts, "layers.1.mixer.conv.weight", t => t with { Shape = [8, 1, 2], Data = t.Data[..(8 * 2 * 4)] }));
        AssertNames(ex, "layers.1.mixer.conv.weight");
    }

    [Fact]
    public void Wrong_dtype_F64_is_rejected()
    {
        H3FormatException ex = LoadAltered(ts => Replace(ts, "layers.1.mlp.fc2.bias", t =>
        {
            var data = new byte[t.Data.Length * 2];
            for (int i = 0; i < t.Data.Length / 4; i++)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8 * i), BinaryPrimitives.ReadSingleLittleEndian(t.Data.AsSpan(4 * i)));
            }
            return t with { DType = "F64", Data = data };
        }));
        AssertNames(ex, "layers.1.mlp.fc2.bias");
        Assert.Contains("F64", ex.Message, StringComparison.Ordinal);
        Assert.Contains("F32", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_dtype_of_the_same_byte_size_is_rejected()
    {
        // I32 has 4 bytes per element like F32: only the dtype tells them apart.
        H3FormatException ex = LoadAltered(ts => Replace(ts, "final_norm.bias", t => t with { DType = "I32" }));
        AssertNames(ex, "final_norm.bias");
        Assert.Contains("I32", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_tensor_is_rejected()
    {
        H3FormatException ex = LoadAltered(ts => ts.Where(t => t.Name != "layers.1.mixer.conv.bias").ToList());
        AssertNames(ex, "layers.1.mixer.conv.bias");

        H3FormatException ex2 = LoadAltered(ts => ts.Where(t => t.Name != "final_norm.bias").ToList());
        AssertNames(ex2, "final_norm.bias");
    }

    [Fact]
    public void Extra_tensor_is_rejected()
    {
        H3FormatException ex = LoadAltered(ts =>
        {
            ts.Add(new RawTensor("layers.2.norm1.weight", "F32", [8], new byte[32]));
            return ts;
        });
        AssertNames(ex, "layers.2.norm1.weight");
    }

    [Fact]
    public void Truncated_files_are_rejected()
    {
        using var dir = new TempDir();
        string full = dir.File("full.safetensors");
        Source("Small", seed: 6).SaveWeights(full);
        byte[] bytes = File.ReadAllBytes(full);
        long headerEnd = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var model = new SmallModel(seed: 7);

        // Cut in the data: the last tensor no longer fits, and the message names it.
        string cut = dir.File("cut.safetensors");
        File.WriteAllBytes(cut, bytes[..^4]);
        AssertNames(AssertLoadFails(model, cut), "final_norm.bias");

        // Cut elsewhere: in the data, at the end of the header, inside the header, inside the length, empty.
        foreach (long length in new[] { bytes.Length - 1, (bytes.Length + headerEnd) / 2, headerEnd, headerEnd - 3, 20, 7, 0 })
        {
            File.WriteAllBytes(cut, bytes[..(int)length]);
            H3FormatException ex = AssertLoadFails(model, cut);
            if (ex.TensorName is not null) Assert.Contains(ex.TensorName, ex.Message, StringComparison.Ordinal);
        }

        // Trailing garbage is not accepted either.
        File.WriteAllBytes(cut, [.. bytes, 1, 2, 3, 4]);
        AssertLoadFails(model, cut);

        // And the untouched file still loads.
        model.LoadWeights(full, allowNonFinite: true);
    }

    [Theory]
    [InlineData("A", "B", "layers.0.mixer.shift.B")]   // same H, other N: the first mismatch in layout order
    [InlineData("B", "F", "layers.0.norm1.weight")]    // other H
    [InlineData("G", "D", "layers.0.norm1.weight")]    // the file has input_proj, the model does not
    [InlineData("D", "G", "input_proj.weight")]        // the model has input_proj, the file does not
    [InlineData("Small", "Nested", null)]
    [InlineData("H", "A", null)]
    [InlineData("C", "F", null)]
    [InlineData("I", "Small", null)]
    public void File_saved_from_another_configuration_is_rejected(string saved, string loaded, string? tensor)
    {
        using var dir = new TempDir();
        string path = dir.File("other.safetensors");
        Source(saved, seed: 1).SaveWeights(path);
        IH3Model model = Create(loaded, seed: 2);
        H3FormatException ex = AssertLoadFails(model, path);
        if (tensor is not null)
        {
            AssertNames(ex, tensor);
        }
        else
        {
            Assert.NotNull(ex.TensorName);
            Assert.Contains(ex.TensorName, ex.Message, StringComparison.Ordinal);
            var names = Create(saved).Tensors.ToArray().Concat(model.Tensors.ToArray()).Select(t => t.Name);
            Assert.Contains(ex.TensorName, names);
        }
    }

    [Fact]
    public void Missing_file_throws_FileNotFoundException_and_changes_nothing()
    {
        using var dir = new TempDir();
        var model = new SmallModel(seed: 1);
        byte[] before = Bytes(model.Parameters);
        Assert.ThrowsAny<FileNotFoundException>(() => model.LoadWeights(dir.File("nope.safetensors")));
        Assert.Equal(before, Bytes(model.Parameters));
        Assert.Empty(dir.Entries());
    }

    // ---------------------------------------------------------------------------------------------------
    // Atomic save

    [Fact]
    public void Saving_over_an_existing_file_replaces_it_and_leaves_no_temporary_files()
    {
        using var dir = new TempDir();
        string path = dir.File("w.safetensors");

        // A longer, unrelated file first: an in-place overwrite without truncation would leave its tail.
        IH3Model model = Source("Small", seed: 1);
        File.WriteAllBytes(path, Enumerable.Repeat((byte)0xAB, 4 * model.Info.ParameterCount + 5000).ToArray());
        model.SaveWeights(path);
        Assert.Equal(new[] { "w.safetensors" }, dir.Entries());
        var loaded = new SmallModel(seed: 2);
        loaded.LoadWeights(path, allowNonFinite: true);
        Assert.Equal(Bytes(model.Parameters), Bytes(loaded.Parameters));

        // A weights file of another model, then this one's.
        Source("C", seed: 3).SaveWeights(path);
        model.SaveWeights(path);
        Assert.Equal(new[] { "w.safetensors" }, dir.Entries());
        var again = new SmallModel(seed: 4);
        again.LoadWeights(path, allowNonFinite: true);
        Assert.Equal(Bytes(model.Parameters), Bytes(again.Parameters));
    }

    [Fact]
    public void Saving_replaces_the_file_rather_than_rewriting_it_in_place()
    {
        // A reader holding the old file open keeps reading the old bytes: the new file was renamed over it.
        using var dir = new TempDir();
        string path = dir.File("w.safetensors");
        new SmallModel(seed: 1).SaveWeights(path);
        byte[] old = File.ReadAllBytes(path);
        using (var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            Source("Small", seed: 2).SaveWeights(path);
            var seen = new byte[old.Length + 1];
            int read = 0, n;
            while ((n = reader.Read(seen, read, seen.Length - read)) > 0) read += n;
            Assert.Equal(old.Length, read);
            Assert.Equal(old, seen[..read]);
        }
        Assert.NotEqual(old, File.ReadAllBytes(path));
        Assert.Equal(new[] { "w.safetensors" }, dir.Entries());
    }

    [Fact]
    public void Saving_into_a_missing_directory_throws_IOException_and_leaves_nothing()
    {
        using var dir = new TempDir();
        string missing = Path.Combine(dir.Path, "missing");
        string path = Path.Combine(missing, "sub", "w.safetensors");
        var model = new SmallModel(seed: 1);
        byte[] before = Bytes(model.Parameters);
        Assert.ThrowsAny<IOException>(() => model.SaveWeights(path));
        Assert.False(Directory.Exists(missing));
        Assert.False(File.Exists(path));
        Assert.Empty(dir.Entries());
        Assert.Equal(before, Bytes(model.Parameters));
    }

    [Fact]
    public void Saving_over_a_directory_fails_and_removes_the_temporary_file()
    {
        using var dir = new TempDir();
        string target = dir.File("w.safetensors");
        Directory.CreateDirectory(target);
        var model = new SmallModel(seed: 1);
        Exception ex = Assert.ThrowsAny<Exception>(() => model.SaveWeights(target));
        Assert.True(ex is IOException or UnauthorizedAccessException, ex.ToString());
        Assert.Equal(new[] { "w.safetensors" }, dir.Entries());
        Assert.True(Directory.Exists(target));
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }
}
