using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace H3.Tests.Reliability;

/// <summary>A one-layer model small enough that 100,000 weight files load in seconds (22 tensors, 1,3xx bytes of data).</summary>
[H3Model(EmbedDim = 3, Hidden = 4, State = 2, ConvSize = 2, Layers = 1, WindowSize = 3)]
public partial class FuzzModel { }

/// <summary>Helpers shared by the reliability tests.</summary>
internal static class Reliable
{
    /// <summary>The bits of a span of floats, for bit-exact comparisons (NaN payloads included).</summary>
    public static byte[] Bits(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    /// <summary>Deterministic values in [-1, 1).</summary>
    public static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>A fresh directory under the temp path, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir(string prefix)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

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
}
