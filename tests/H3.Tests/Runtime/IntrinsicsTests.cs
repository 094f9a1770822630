using System;
using System.Linq;

namespace H3.Tests.Runtime;

/// <summary>H3Intrinsics.Prefetch is a hint: it never faults and never changes memory, wherever it points.</summary>
public class IntrinsicsTests
{
    [Fact]
    public void Prefetch_reads_nothing_writes_nothing_and_never_faults()
    {
        float[] data = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        float[] copy = (float[])data.Clone();
        for (int i = 0; i < data.Length; i += 7) H3Intrinsics.Prefetch(ref data[i]);
        H3Intrinsics.Prefetch(ref data[^1]);
        float local = 3f;
        H3Intrinsics.Prefetch(ref local);
        Assert.Equal(copy, data);
        Assert.Equal(3f, local);
    }
}
