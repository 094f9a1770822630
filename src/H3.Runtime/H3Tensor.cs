using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace H3;

/// <summary>
/// One named parameter tensor of a generated model: its safetensors name, its shape, and where it lives in
/// the flat <c>Parameters</c>/<c>Gradients</c> spans.
/// </summary>
public sealed class H3Tensor
{
    /// <summary>The optimizer group of tensors trained with the SSM learning rate and no weight decay.</summary>
    public const string SsmGroup = "ssm";

    /// <summary>The optimizer group of every other tensor.</summary>
    public const string DefaultGroup = "default";

    /// <summary>Creates a tensor description.</summary>
    /// <param name="name">The PyTorch-style name, e.g. <c>layers.0.mixer.q_proj.weight</c>.</param>
    /// <param name="shape">The shape as stored in safetensors (row-major).</param>
    /// <param name="offset">Offset in floats into the flat parameter span.</param>
    /// <param name="group"><see cref="DefaultGroup"/> or <see cref="SsmGroup"/>.</param>
    public H3Tensor(string name, int[] shape, int offset, string group)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(group);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        long length = 1;
        foreach (int d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            length *= d;
        }
        if (length > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(shape), "The tensor holds more than int.MaxValue values.");
        Name = name;
        Shape = Array.AsReadOnly((int[])shape.Clone());
        Offset = offset;
        Length = (int)length;
        Group = group;
    }

    /// <summary>The tensor's name, as in safetensors files and H3-SPEC.md.</summary>
    public string Name { get; }

    /// <summary>The tensor's shape (row-major).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Offset, in floats, into <c>Parameters</c> and <c>Gradients</c>.</summary>
    public int Offset { get; }

    /// <summary>Number of floats (the product of <see cref="Shape"/>).</summary>
    public int Length { get; }

    /// <summary>The optimizer group: <see cref="DefaultGroup"/> or <see cref="SsmGroup"/>.</summary>
    public string Group { get; }

    /// <summary>The shape as text, e.g. <c>[256, 287]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {ShapeText} @ {Offset}";
}
