using System;
using System.Threading;

namespace H3;

/// <summary>
/// A small lock-free pool of scratch arrays for generated inference code: a serial caller reuses the same
/// array on every call (no allocation after the first call with a given size); concurrent callers each get
/// their own array, allocating only while fewer arrays exist than concurrent callers.
/// </summary>
public sealed class H3ScratchPool
{
    private readonly float[]?[] _slots;

    /// <summary>Creates a pool that keeps up to <paramref name="capacity"/> arrays.</summary>
    public H3ScratchPool(int capacity = 8)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _slots = new float[]?[capacity];
    }

    /// <summary>Takes an array of at least <paramref name="length"/> floats (contents unspecified).</summary>
    public float[] Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        for (int i = 0; i < _slots.Length; i++)
        {
            float[]? candidate = Interlocked.Exchange(ref _slots[i], null);
            if (candidate is null) continue;
            if (candidate.Length >= length) return candidate;
            // Too small for this caller: put it back for a caller that fits, or drop it if the slot was refilled.
            Interlocked.CompareExchange(ref _slots[i], candidate, null);
        }
        return new float[length];
    }

    /// <summary>Gives an array back. When the pool is full, a smaller pooled array is replaced or the array is dropped.</summary>
    public void Return(float[] array)
    {
        ArgumentNullException.ThrowIfNull(array);
        for (int i = 0; i < _slots.Length; i++)
            if (Interlocked.CompareExchange(ref _slots[i], array, null) is null) return;
        for (int i = 0; i < _slots.Length; i++)
        {
            float[]? current = Volatile.Read(ref _slots[i]);
            if (current is not null && current.Length < array.Length
                && ReferenceEquals(Interlocked.CompareExchange(ref _slots[i], array, current), current))
                return;
        }
    }
}
