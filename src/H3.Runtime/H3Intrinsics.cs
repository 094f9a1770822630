using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace H3;

/// <summary>
/// Hardware operations the generated kernels need but cannot write themselves: generated code compiles in the user's
/// project without <c>AllowUnsafeBlocks</c>, and the prefetch instruction takes a pointer. Not meant for user code.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class H3Intrinsics
{
    /// <summary>
    /// Asks the CPU to bring the cache line holding <paramref name="address"/> into all cache levels (x86 PREFETCHT0),
    /// without waiting for it: unlike a load, a prefetch retires at once, so a miss to memory does not stall the
    /// pipeline. Never faults, whatever the address; a no-op where the instruction is not available.
    /// </summary>
    /// <param name="address">Any float of the line to fetch; it is not read.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch(ref readonly float address)
    {
        // The pointer is only a hint to the cache: if the GC moved the array in between, the line fetched is simply
        // the wrong one. Prefetches never fault.
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.AsRef(in address)));
    }
}
