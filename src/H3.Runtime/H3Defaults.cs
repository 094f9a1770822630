namespace H3;

/// <summary>
/// The recommended configuration of an H3 model (the defaults of H3-SPEC.md). <see cref="H3ModelAttribute"/>
/// starts from these values and the analyzers use them.
/// </summary>
public static class H3Defaults
{
    /// <summary>Model width H (channels of the residual stream).</summary>
    public const int Hidden = 256;

    /// <summary>State size N: N taps of the shift SSM and N/2 complex modes of the diagonal SSM. Must be even.</summary>
    public const int State = 64;

    /// <summary>Kernel size K of the causal depthwise short convolution (0 = none).</summary>
    public const int ConvSize = 4;

    /// <summary>Number of H3 blocks L.</summary>
    public const int Layers = 4;

    /// <summary>Sequence length T of one window (frames per window).</summary>
    public const int WindowSize = 60;

    /// <summary>Residual dropout probability p (training only).</summary>
    public const float Dropout = 0.1f;
}
