using System;

namespace H3;

/// <summary>
/// The shape-independent face of every generated model, for code that works with any model (training
/// loops, tools, tests). Generated classes implement it; their own members are the constant-shaped API.
/// </summary>
public interface IH3Model
{
    /// <summary>The model's configuration and exact parameter count.</summary>
    H3ModelInfo Info { get; }

    /// <summary>All parameters, flat, in the layout of <see cref="Tensors"/>.</summary>
    Span<float> Parameters { get; }

    /// <summary>Gradients, same layout as <see cref="Parameters"/>.</summary>
    Span<float> Gradients { get; }

    /// <summary>The named parameter tensors in layout order.</summary>
    ReadOnlySpan<H3Tensor> Tensors { get; }

    /// <summary>Sets every gradient to zero.</summary>
    void ZeroGradients();

    /// <summary>Inference: input [batch, WindowSize, EmbedDim] → output [batch, OutputSize] (the last frame).</summary>
    void Forward(ReadOnlySpan<float> input, Span<float> output, int batch);

    /// <summary>Creates the training memory for batches of up to <paramref name="maxBatch"/> windows.</summary>
    H3Workspace CreateWorkspace(int maxBatch);

    /// <summary>Training forward, last frame: keeps what Backward needs; applies dropout when <paramref name="training"/>.</summary>
    void Forward(ReadOnlySpan<float> input, Span<float> output, int batch, H3Workspace workspace, bool training = true);

    /// <summary>Training forward, every frame: output [batch, WindowSize, OutputSize].</summary>
    void ForwardSequence(ReadOnlySpan<float> input, Span<float> output, int batch, H3Workspace workspace, bool training = true);

    /// <summary>Backward of <see cref="Forward(ReadOnlySpan{float}, Span{float}, int, H3Workspace, bool)"/>: accumulates into Gradients.</summary>
    void Backward(ReadOnlySpan<float> outputGradient, H3Workspace workspace, Span<float> inputGradient = default);

    /// <summary>Backward of <see cref="ForwardSequence"/>: accumulates into Gradients.</summary>
    void BackwardSequence(ReadOnlySpan<float> outputGradient, H3Workspace workspace, Span<float> inputGradient = default);

    /// <summary>Backward of the last-frame training forward, accumulating into <paramref name="gradients"/> instead of Gradients.</summary>
    void Backward(ReadOnlySpan<float> outputGradient, H3Workspace workspace, Span<float> inputGradient, Span<float> gradients);

    /// <summary>Backward of <see cref="ForwardSequence"/>, accumulating into <paramref name="gradients"/> instead of Gradients.</summary>
    void BackwardSequence(ReadOnlySpan<float> outputGradient, H3Workspace workspace, Span<float> inputGradient, Span<float> gradients);

    /// <summary>Creates the recurrent state of <paramref name="batch"/> independent streams for <see cref="Step"/>.</summary>
    H3StreamState CreateStream(int batch = 1);

    /// <summary>
    /// <see cref="CreateStream(int)"/> whose steps run on <paramref name="threads"/> threads (1 or 2; with 2 a worker takes half
    /// of every matrix product, same results bit for bit). Dispose the state to stop its worker.
    /// </summary>
    H3StreamState CreateStream(int batch, int threads);

    /// <summary>
    /// Streaming inference: one frame per stream, frames [state.Batch, EmbedDim] → output [state.Batch, OutputSize].
    /// From a reset state, the T-th step's output equals <see cref="Forward(ReadOnlySpan{float}, Span{float}, int)"/> on those T frames.
    /// </summary>
    void Step(ReadOnlySpan<float> frames, Span<float> output, H3StreamState state);

    /// <summary>Saves the parameters as safetensors, atomically.</summary>
    void SaveWeights(string path);

    /// <summary>Loads parameters from safetensors; validates everything before changing anything (NaN and infinite values are rejected).</summary>
    void LoadWeights(string path);

    /// <summary>Loads parameters from safetensors; NaN and infinite values are loaded bit for bit when <paramref name="allowNonFinite"/>.</summary>
    void LoadWeights(string path, bool allowNonFinite);

    /// <summary>Loads parameters from a stream holding a safetensors file (read to its end, not closed), with the same checks.</summary>
    void LoadWeights(System.IO.Stream stream, bool allowNonFinite = false);
}

/// <summary>The configuration of a generated model (letters of H3-SPEC.md) and its exact parameter count.</summary>
/// <param name="EmbedDim">E: values per input frame.</param>
/// <param name="Hidden">H: channels.</param>
/// <param name="State">N: state size.</param>
/// <param name="ConvSize">K: short-convolution taps (0 = none).</param>
/// <param name="Layers">L: blocks.</param>
/// <param name="WindowSize">T: frames per window.</param>
/// <param name="Dropout">p: residual dropout in training.</param>
/// <param name="ParameterCount">Exact number of float32 parameters.</param>
public sealed record H3ModelInfo(int EmbedDim, int Hidden, int State, int ConvSize, int Layers, int WindowSize, float Dropout, int ParameterCount)
{
    /// <summary>p_e: dropout after the input projection in training (0 = off).</summary>
    public float EmbedDropout { get; init; }

    /// <summary>F = 4H: feed-forward width.</summary>
    public int FfnDim => 4 * Hidden;

    /// <summary>Floats of output per sequence (= Hidden).</summary>
    public int OutputSize => Hidden;
}
