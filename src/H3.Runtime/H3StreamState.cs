using System;
using System.ComponentModel;

namespace H3;

/// <summary>
/// The recurrent state of <see cref="Batch"/> independent streams of one model, created by the model's
/// <c>CreateStream(batch)</c> and advanced one frame per stream by its <c>Step(frames, output, state)</c>.
/// </summary>
/// <remarks>
/// <para>Per layer and stream it holds what H3-SPEC.md "Streaming" names: the last min(N, T) values of k
/// (shift SSM), the complex diagonal-SSM state s[h, n] and the last K-1 values of m (short convolution).
/// From a reset state, the output of the T-th <c>Step</c> equals <c>Forward</c> on those T frames; after more
/// than T frames the stream keeps its whole history, as the paper's generation mode does.</para>
/// <para>It also keeps the SSM coefficients derived from the parameters (the shift kernel and the discretised
/// dA, dB, C), with a copy of the parameters they came from. By default (<see cref="CheckParameters"/>) every
/// <c>Step</c> compares that copy with the model's current parameters and rebuilds the coefficients of any layer
/// that changed, so a <c>Step</c> always uses the parameters as they are at that call. Steps allocate nothing.</para>
/// <para>A state belongs to the model instance that created it and is not thread-safe: give each thread its
/// own state. Different states may step concurrently on the same model while nobody writes its parameters.</para>
/// </remarks>
public sealed class H3StreamState : IDisposable
{
    private readonly float[] _memory;
    private readonly object _owner;
    private readonly int _recurrentLength;

    /// <summary>Used by generated code; call the model's <c>CreateStream</c> instead.</summary>
    /// <param name="owner">The model instance the state belongs to.</param>
    /// <param name="batch">Number of independent streams.</param>
    /// <param name="length">Floats of memory: recurrent state, coefficient cache and step scratch.</param>
    /// <param name="recurrentLength">The leading floats of the memory that <see cref="Reset"/> zeroes.</param>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public H3StreamState(object owner, int batch, int length, int recurrentLength)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(recurrentLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(recurrentLength, length);
        _owner = owner;
        Batch = batch;
        _memory = new float[length];
        _recurrentLength = recurrentLength;
    }

    /// <summary>Number of independent streams: every <c>Step</c> takes [Batch, EmbedDim] and writes [Batch, OutputSize].</summary>
    public int Batch { get; }

    /// <summary>Frames each stream has consumed since creation or the last <see cref="Reset"/>.</summary>
    public long FramesSeen { get; private set; }

    /// <summary>Size of the state in floats (recurrent state, coefficient cache and scratch).</summary>
    public long Length => _memory.LongLength;

    /// <summary>
    /// Forgets every stream's history: the next <c>Step</c> is the first frame of new sequences, as if the state
    /// were new (k and m before the first frame are 0, the diagonal state starts at 0).
    /// </summary>
    public void Reset()
    {
        Array.Clear(_memory, 0, _recurrentLength);
        FramesSeen = 0;
    }

    /// <summary>
    /// Whether every <c>Step</c> checks that the SSM parameters (mixer.shift.B through mixer.diag.C of each layer) still
    /// equal the copy its cached coefficients were derived from, and rebuilds them if not. True by default: a step then
    /// always uses the current parameters, at the cost of reading 2·L·(5HN + 2H) floats per step (about 2.6 MB for the
    /// seed's default model, a sizeable share of a batch-1 step). Set it to false for a deployed model whose parameters
    /// no longer change: steps then use the coefficients built at the first step (or after
    /// <see cref="RefreshCoefficients"/>), and after changing the parameters you must call <see cref="RefreshCoefficients"/>.
    /// </summary>
    public bool CheckParameters { get; set; } = true;

    /// <summary>
    /// Makes the next <c>Step</c> rebuild the cached SSM coefficients from the model's parameters. Needed only when
    /// <see cref="CheckParameters"/> is false and the parameters have changed; does not touch the streams' history.
    /// </summary>
    public void RefreshCoefficients() => CoefficientsReady = false;

    /// <summary>The state memory (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public Span<float> Memory => _memory;

    /// <summary>Whether the coefficient cache has been built once (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public bool CoefficientsReady { get; set; }

    /// <summary>Checks that <paramref name="model"/> created this state (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void BeginStep(object model)
    {
        if (ReferenceEquals(model, _owner)) return;
        throw new ArgumentException(model?.GetType() == _owner.GetType()
            ? "This stream state was created by another instance of this model; create one with this model's CreateStream."
            : $"This stream state was created by a {_owner.GetType().Name} model, not by this {model?.GetType().Name}; create one with this model's CreateStream.",
            "state");
    }

    /// <summary>Counts a completed step (generated code only).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void CompleteStep() => FramesSeen++;

    /// <summary>
    /// The worker that runs half of each step, when the state was created with two threads (generated code sets it once,
    /// right after construction).
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public H3StepTeam? Team
    {
        get => _team;
        set
        {
            if (_team is not null) throw new InvalidOperationException("The state already has a step team.");
            _team = value;
        }
    }

    private H3StepTeam? _team;

    /// <summary>Threads every <c>Step</c> on this state runs on: 1, or 2 when created with <c>CreateStream(batch, threads: 2)</c>.</summary>
    public int Threads => _team is null ? 1 : _team.Parts;

    /// <summary>Stops the worker thread of a two-thread state (nothing to do for one thread). The state can't step after.</summary>
    public void Dispose()
    {
        if (_team is null) return;
        _team.Dispose();
    }
}
