using System;
using System.Numerics.Tensors;

namespace H3;

/// <summary>
/// A dense head <c>y = x·Wᵀ + b</c> with PyTorch's layout (<c>weight</c> [outputs, inputs], <c>bias</c> [outputs]),
/// for classifiers and language models on top of a generated model. Its <see cref="Parameters"/>,
/// <see cref="Gradients"/> and <see cref="Tensors"/> follow the same conventions as <see cref="IH3Model"/>, so
/// <see cref="AdamW"/> and <see cref="H3Weights"/> work with it. Calls allocate nothing. Not thread-safe.
/// </summary>
public sealed class Linear
{
    private readonly float[] _parameters;
    private readonly float[] _gradients;
    private readonly H3Tensor[] _tensors;

    /// <summary>Creates a head with <c>weight ~ N(0, 0.02²)</c> (<see cref="H3Init.Normal"/>, stream 0) and zero bias.</summary>
    /// <param name="inputs">Features per input row (&gt; 0).</param>
    /// <param name="outputs">Values per output row (&gt; 0).</param>
    /// <param name="seed">The initialisation seed.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or the head is too large for one array.</exception>
    public Linear(int inputs, int outputs, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputs);
        long count = (long)inputs * outputs + outputs;
        if (count > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(outputs), outputs, $"A {outputs}×{inputs} head holds {count} parameters, more than one array can hold.");
        Inputs = inputs;
        Outputs = outputs;
        _parameters = new float[count];
        _gradients = new float[count];
        _tensors =
        [
            new H3Tensor("weight", [outputs, inputs], 0, H3Tensor.DefaultGroup),
            new H3Tensor("bias", [outputs], outputs * inputs, H3Tensor.DefaultGroup),
        ];
        H3Init.Normal(_parameters.AsSpan(0, outputs * inputs), 0.02, seed, 0);
    }

    /// <summary>Features per input row.</summary>
    public int Inputs { get; }

    /// <summary>Values per output row.</summary>
    public int Outputs { get; }

    /// <summary>Number of parameters: <c>Outputs·Inputs + Outputs</c>.</summary>
    public int ParameterCount => _parameters.Length;

    /// <summary>All parameters, flat: <c>weight</c> [outputs, inputs] then <c>bias</c> [outputs].</summary>
    public Span<float> Parameters => _parameters;

    /// <summary>Gradients, same layout as <see cref="Parameters"/>; <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/> accumulates into them.</summary>
    public Span<float> Gradients => _gradients;

    /// <summary>The tensors <c>weight</c> and <c>bias</c> (both in the default group).</summary>
    public ReadOnlySpan<H3Tensor> Tensors => _tensors;

    /// <summary>The weight [outputs, inputs], row-major.</summary>
    public Span<float> Weight => _parameters.AsSpan(0, Outputs * Inputs);

    /// <summary>The bias [outputs].</summary>
    public Span<float> Bias => _parameters.AsSpan(Outputs * Inputs, Outputs);

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGradients() => Array.Clear(_gradients);

    /// <summary>Computes <c>output = input·Wᵀ + b</c>.</summary>
    /// <param name="input">[rows, Inputs] row-major.</param>
    /// <param name="output">[rows, Outputs] row-major; must not overlap <paramref name="input"/>.</param>
    /// <param name="rows">Number of rows (&gt; 0).</param>
    /// <exception cref="ArgumentException">A span has the wrong length, or the spans overlap.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is not positive.</exception>
    public void Forward(ReadOnlySpan<float> input, Span<float> output, int rows)
    {
        H3Args.CheckBatch(rows, nameof(rows));
        int inputs = Inputs, outputs = Outputs;
        if (input.Length != (long)rows * inputs) ThrowLength(nameof(input), input.Length, (long)rows * inputs, rows, inputs);
        if (output.Length != (long)rows * outputs) ThrowLength(nameof(output), output.Length, (long)rows * outputs, rows, outputs);
        if (output.Overlaps(input)) throw new ArgumentException("output overlaps input.", nameof(output));

        ReadOnlySpan<float> w = Weight;
        ReadOnlySpan<float> b = Bias;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> x = input.Slice(r * inputs, inputs);
            Span<float> y = output.Slice(r * outputs, outputs);
            for (int o = 0; o < outputs; o++)
            {
                y[o] = TensorPrimitives.Dot(x, w.Slice(o * inputs, inputs)) + b[o];
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/>: accumulates <c>dW += dyᵀ·x</c> and <c>db += Σ_rows dy</c> into
    /// <see cref="Gradients"/>, and writes <c>inputGradient = dy·W</c> when it is not empty.
    /// </summary>
    /// <param name="input">The input given to <see cref="Forward"/>, [rows, Inputs].</param>
    /// <param name="outputGradient">The gradient of the loss with respect to the output, [rows, Outputs].</param>
    /// <param name="inputGradient">Receives the gradient with respect to the input, [rows, Inputs] (overwritten,
    /// not accumulated); empty to skip. Must not overlap the other spans.</param>
    /// <param name="rows">Number of rows (&gt; 0).</param>
    /// <exception cref="ArgumentException">A span has the wrong length, or the spans overlap.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is not positive.</exception>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> outputGradient, Span<float> inputGradient, int rows)
        => Backward(input, outputGradient, inputGradient, rows, _gradients);

    /// <summary>
    /// <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int)"/> accumulating into
    /// <paramref name="gradients"/> ([ParameterCount], the layout of <see cref="Parameters"/>) instead of
    /// <see cref="Gradients"/>, so data-parallel shards can each own a gradient buffer.
    /// </summary>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> outputGradient, Span<float> inputGradient, int rows, Span<float> gradients)
    {
        H3Args.CheckLength(gradients.Length, _gradients.Length, nameof(gradients), "[ParameterCount]");
        H3Args.CheckBatch(rows, nameof(rows));
        int inputs = Inputs, outputs = Outputs;
        if (input.Length != (long)rows * inputs) ThrowLength(nameof(input), input.Length, (long)rows * inputs, rows, inputs);
        if (outputGradient.Length != (long)rows * outputs) ThrowLength(nameof(outputGradient), outputGradient.Length, (long)rows * outputs, rows, outputs);
        bool wantInput = !inputGradient.IsEmpty;
        if (wantInput)
        {
            if (inputGradient.Length != (long)rows * inputs) ThrowLength(nameof(inputGradient), inputGradient.Length, (long)rows * inputs, rows, inputs);
            if (inputGradient.Overlaps(input) || inputGradient.Overlaps(outputGradient))
                throw new ArgumentException("inputGradient overlaps input or outputGradient.", nameof(inputGradient));
        }

        ReadOnlySpan<float> w = Weight;
        Span<float> dw = gradients.Slice(0, outputs * inputs);
        Span<float> db = gradients.Slice(outputs * inputs, outputs);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> x = input.Slice(r * inputs, inputs);
            ReadOnlySpan<float> dy = outputGradient.Slice(r * outputs, outputs);
            Span<float> dx = wantInput ? inputGradient.Slice(r * inputs, inputs) : default;
            if (wantInput) dx.Clear();
            for (int o = 0; o < outputs; o++)
            {
                float g = dy[o];
                Span<float> dwRow = dw.Slice(o * inputs, inputs);
                TensorPrimitives.MultiplyAdd(x, g, dwRow, dwRow);
                if (wantInput) TensorPrimitives.MultiplyAdd(w.Slice(o * inputs, inputs), g, dx, dx);
            }
            TensorPrimitives.Add(db, dy, db);
        }
    }

    /// <summary>Saves the parameters as safetensors (tensors <c>weight</c> and <c>bias</c>), atomically.</summary>
    /// <param name="path">The destination file; replaced if it exists.</param>
    public void SaveWeights(string path) => H3Weights.Save(path, _tensors, _parameters, nameof(Linear));

    /// <summary>Loads parameters from safetensors; validates everything before changing anything.</summary>
    /// <param name="path">The safetensors file, holding exactly <c>weight</c> [Outputs, Inputs] and <c>bias</c> [Outputs] as F32.</param>
    /// <exception cref="H3FormatException">The file is malformed or does not match this head's shapes.</exception>
    public void LoadWeights(string path) => H3Weights.Load(path, _tensors, _parameters);

    private static void ThrowLength(string paramName, int actual, long expected, int rows, int columns)
        => throw new ArgumentException($"{paramName} must hold {expected} floats ([{rows}, {columns}]); it holds {actual}.", paramName);
}
