using System;

namespace H3;

/// <summary>
/// Declares a partial class as an H3 sequence model. The H3 source generator fills the class with a
/// specialised implementation: constants, parameter layout, initialisation, a SIMD forward pass and
/// safetensors weights. Every property but <see cref="EmbedDim"/> has the default of <see cref="H3Defaults"/>.
/// </summary>
/// <example>
/// <code>
/// [H3Model(EmbedDim = 287, Hidden = 256, State = 64, Layers = 4)]
/// public partial class FrameEncoder { }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class H3ModelAttribute : Attribute
{
    /// <summary>E: values per input frame (1..65536). Required.</summary>
    public int EmbedDim { get; set; }

    /// <summary>H: width of the model (1..65536). Default 256.</summary>
    public int Hidden { get; set; } = H3Defaults.Hidden;

    /// <summary>N: SSM state size, even, 2..1024. Default 64.</summary>
    public int State { get; set; } = H3Defaults.State;

    /// <summary>K: short convolution size, 0..WindowSize (0 disables it). Default 4.</summary>
    public int ConvSize { get; set; } = H3Defaults.ConvSize;

    /// <summary>L: number of H3 blocks, 1..256. Default 4.</summary>
    public int Layers { get; set; } = H3Defaults.Layers;

    /// <summary>T: frames per window, 1..1,048,576. Default 60.</summary>
    public int WindowSize { get; set; } = H3Defaults.WindowSize;

    /// <summary>p: residual dropout probability in training, 0 &lt;= p &lt; 1. Default 0.1.</summary>
    public float Dropout { get; set; } = H3Defaults.Dropout;

    /// <summary>
    /// p_e: dropout on the model's input after the input projection (the token embedding when frames are one-hot;
    /// the official H3 LM's <c>embed_dropout</c>), training only, 0 &lt;= p_e &lt; 1. Default 0 (off).
    /// </summary>
    public float EmbedDropout { get; set; }

    /// <summary>
    /// Parameter budget: when set (at least 1), a model with more parameters than this is a compile error (H3018)
    /// that gives the actual count and the budget. 0, the default, means no budget.
    /// </summary>
    public long MaxParameters { get; set; }
}
