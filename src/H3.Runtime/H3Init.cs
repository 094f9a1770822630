using System;

namespace H3;

/// <summary>
/// Initialisation rules of H3-SPEC.md, used by generated constructors. Each tensor draws from its own
/// stream (seed, tensor index), so a tensor's values do not depend on the tensors before it.
/// </summary>
public static class H3Init
{
    /// <summary>Fills with N(0, std²).</summary>
    public static void Normal(Span<float> destination, double std, long seed, int stream)
    {
        var rng = new H3Random(seed, stream);
        for (int i = 0; i < destination.Length; i++) destination[i] = (float)(std * rng.NextGaussian());
    }

    /// <summary>Fills with U(low, high).</summary>
    public static void Uniform(Span<float> destination, double low, double high, long seed, int stream)
    {
        var rng = new H3Random(seed, stream);
        for (int i = 0; i < destination.Length; i++) destination[i] = (float)(low + (high - low) * rng.NextDouble());
    }

    /// <summary>Fills with exp(U(ln low, ln high)) sampled in log space, then takes the log: U(ln low, ln high).</summary>
    public static void LogUniform(Span<float> destination, double low, double high, long seed, int stream)
        => Uniform(destination, Math.Log(low), Math.Log(high), seed, stream);

    /// <summary>Fills with a constant.</summary>
    public static void Constant(Span<float> destination, float value) => destination.Fill(value);

    /// <summary>shift.B = e1 per channel: B[h, 0] = 1, the rest 0. <paramref name="destination"/> is [H, N].</summary>
    public static void FirstBasisVector(Span<float> destination, int rows, int columns)
    {
        CheckShape(destination, rows, columns, nameof(rows), nameof(columns));
        destination.Clear();
        for (int r = 0; r < rows; r++) destination[r * columns] = 1f;
    }

    /// <summary>diag.A_imag[h, n] = π·n. <paramref name="destination"/> is [H, N/2].</summary>
    public static void LinearImaginary(Span<float> destination, int rows, int modes)
    {
        CheckShape(destination, rows, modes, nameof(rows), nameof(modes));
        for (int r = 0; r < rows; r++)
            for (int n = 0; n < modes; n++)
                destination[r * modes + n] = (float)(Math.PI * n);
    }

    /// <summary>diag.B = 1 + 0i. <paramref name="destination"/> is [H, N/2, 2] (real, imaginary).</summary>
    public static void ComplexOne(Span<float> destination)
    {
        if (destination.Length % 2 != 0)
            throw new ArgumentException($"destination must hold an even number of floats ([..., 2]: real, imaginary pairs); it holds {destination.Length}.", nameof(destination));
        for (int i = 0; i < destination.Length; i += 2)
        {
            destination[i] = 1f;
            destination[i + 1] = 0f;
        }
    }

    /// <summary>Checks a [rows, columns] destination before anything is written.</summary>
    private static void CheckShape(Span<float> destination, int rows, int columns, string rowsName, string columnsName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows, rowsName);
        ArgumentOutOfRangeException.ThrowIfNegative(columns, columnsName);
        H3Args.CheckLength(destination.Length, (long)rows * columns, nameof(destination), $"[{rows}, {columns}]");
    }
}
