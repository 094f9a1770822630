using System;

namespace H3;

/// <summary>Argument checks shared by generated models, with messages that name the argument and both lengths.</summary>
public static class H3Args
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless batch &gt; 0.</summary>
    public static void CheckBatch(int batch, string paramName = "batch")
    {
        if (batch <= 0)
            throw new ArgumentOutOfRangeException(paramName, batch, $"{paramName} must be positive; got {batch}.");
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="actual"/> equals <paramref name="expected"/>.</summary>
    public static void CheckLength(int actual, long expected, string paramName, string shape)
    {
        if (actual != expected)
            throw new ArgumentException($"{paramName} must hold {expected} floats ({shape}); it holds {actual}.", paramName);
    }

    /// <summary>
    /// Converts a scratch size to an array length, or throws <see cref="ArgumentOutOfRangeException"/> for a
    /// batch whose working memory would not fit in one array.
    /// </summary>
    public static int CheckScratch(long length, int batch, string paramName = "batch")
    {
        if (length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(paramName, batch, $"{paramName} {batch} needs {length} floats of working memory, more than one array can hold ({Array.MaxLength}); use smaller batches.");
        return (int)length;
    }
}
