using System;
using System.ComponentModel;

namespace H3;

/// <summary>
/// All activation and scratch memory of one training forward/backward pair of one model, created by the
/// model's <c>CreateWorkspace(maxBatch)</c>. A workspace is not thread-safe: give each thread its own.
/// It also carries the dropout random stream, seedable with <see cref="SeedDropout"/>.
/// </summary>
public sealed class H3Workspace
{
    private readonly float[] _memory;
    private readonly object _owner;
    private H3Random _random;
    private int _batch;
    private bool _hasForward;
    private bool _sequence;

    /// <summary>Used by generated code; call the model's <c>CreateWorkspace</c> instead.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public H3Workspace(object owner, int maxBatch, int length)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _owner = owner;
        MaxBatch = maxBatch;
        _memory = new float[length];
        _random = new H3Random(0, 0x5EED);
    }

    /// <summary>The largest batch this workspace holds.</summary>
    public int MaxBatch { get; }

    /// <summary>Size of the workspace in floats.</summary>
    public long Length => _memory.LongLength;

    /// <summary>Restarts the dropout random stream: the same seed gives the same masks.</summary>
    public void SeedDropout(long seed) => _random = new H3Random(seed, 0x5EED);

    /// <summary>The workspace memory (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public Span<float> Memory => _memory;

    /// <summary>The dropout random stream (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public ref H3Random DropoutRandom => ref _random;

    /// <summary>Checks ownership and capacity before a training forward (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void BeginForward(object model, int batch, bool sequence)
    {
        CheckOwner(model);
        H3Args.CheckBatch(batch);
        if (batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch {batch} exceeds this workspace's maxBatch {MaxBatch}; create a larger workspace.");
        _hasForward = false;
        _batch = batch;
        _sequence = sequence;
    }

    /// <summary>Marks a training forward as complete (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void CompleteForward() => _hasForward = true;

    /// <summary>The batch of the forward pass a backward pass continues (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public int ForwardBatch(object model, bool sequence)
    {
        CheckOwner(model);
        if (!_hasForward)
            throw new InvalidOperationException("Backward needs a completed training Forward on this workspace first.");
        if (_sequence != sequence)
            throw new InvalidOperationException(sequence
                ? "BackwardSequence continues ForwardSequence, but the last forward on this workspace was Forward (last frame only); call Backward."
                : "Backward continues Forward (last frame only), but the last forward on this workspace was ForwardSequence; call BackwardSequence.");
        return _batch;
    }

    private void CheckOwner(object model)
    {
        if (!ReferenceEquals(model, _owner))
            throw new ArgumentException("This workspace was created by another model instance; create one with this model's CreateWorkspace.", "workspace");
    }
}
