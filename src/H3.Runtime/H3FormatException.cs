using System;

namespace H3;

/// <summary>
/// Thrown when a weights file (safetensors) is malformed or does not match a model: a truncated file, a bad
/// header, a missing or extra tensor, or a tensor whose dtype or shape differs from the one expected.
/// </summary>
/// <remarks>
/// The message always says what was expected and what was found; when one tensor is at fault, the message
/// names it and <see cref="TensorName"/> holds its name.
/// </remarks>
public sealed class H3FormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong, with the expected and the actual value.</param>
    /// <param name="tensorName">The tensor at fault, or <see langword="null"/> when the fault is not in one tensor.</param>
    /// <param name="innerException">The underlying error (for example a JSON parse error), if any.</param>
    public H3FormatException(string message, string? tensorName = null, Exception? innerException = null)
        : base(message, innerException)
    {
        TensorName = tensorName;
    }

    /// <summary>The name of the tensor at fault, or <see langword="null"/> when the fault is not in one tensor.</summary>
    public string? TensorName { get; }
}
