using System;
using System.ComponentModel;
using System.Diagnostics;
using System.Threading;

namespace H3;

/// <summary>
/// Two threads that run one streaming <c>Step</c> together: the caller takes part 0, a dedicated worker part 1,
/// and they meet at <see cref="Sync"/> between the phases of the step. A step with one frame per stream is bound by
/// how fast the weights stream from memory, and two cores stream about twice as fast as one. Created by a model's
/// <c>CreateStream(batch, threads: 2)</c>; used by generated code only.
/// </summary>
/// <remarks>
/// Between steps the worker spins for <see cref="SpinMicroseconds"/> and then sleeps, so a stream stepped in a loop
/// never pays a thread wake-up, and an idle one costs nothing. Disposing the stream state stops the worker.
/// The generated step kernels check every length before they start, so the work does not throw; if it ever did, the
/// other part leaves its barrier instead of waiting forever, <see cref="Run"/> rethrows, and the team refuses to run
/// again (the stream's state is then undefined).
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class H3StepTeam : IDisposable
{
    /// <summary>How long the worker keeps spinning for the next step before it sleeps.</summary>
    public const int SpinMicroseconds = 200;

    private readonly Action<int> _work;
    private readonly Thread _worker;
    private readonly SemaphoreSlim _wake = new(0);
    private volatile int _pending;
    private volatile bool _disposed;
    private int _arrived;
    private volatile int _generation;
    private volatile bool _faulted;
    private Exception? _error;

    /// <summary>Starts the worker thread.</summary>
    /// <param name="work">The step's body, called with the part (0 on the caller, 1 on the worker).</param>
    public H3StepTeam(Action<int> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        _work = work;
        _worker = new Thread(WorkerLoop) { IsBackground = true, Name = "H3 step worker" };
        _worker.Start();
    }

    /// <summary>Number of parts a step is split into: 2.</summary>
    public int Parts => 2;

    /// <summary>Runs the work as part 0 on this thread and part 1 on the worker; returns when both have finished.</summary>
    /// <exception cref="InvalidOperationException">A part of this or an earlier step failed.</exception>
    public void Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_faulted) throw new InvalidOperationException("An earlier step failed on one of its two threads; create a new stream state.", _error);
        _pending = 1;
        if (_wake.CurrentCount == 0) _wake.Release();
        try
        {
            _work(0);
            Sync(); // the worker's part is done
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _faulted = true; // releases the worker from any barrier it waits at
            if (_error is not null && ex is InvalidOperationException) throw new InvalidOperationException("The step failed on its worker thread.", _error);
            throw;
        }
    }

    /// <summary>Waits until both parts reach this point (a two-thread barrier; spins, yielding now and then).</summary>
    /// <exception cref="InvalidOperationException">The other part failed.</exception>
    public void Sync()
    {
        int generation = _generation;
        if (Interlocked.Increment(ref _arrived) == 2)
        {
            _arrived = 0;
            _generation = generation + 1;
            return;
        }
        var spin = new SpinWait();
        while (_generation == generation)
        {
            if (_faulted) throw new InvalidOperationException("The other part of the step failed.", _error);
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void WorkerLoop()
    {
        long spinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            while (_pending == 0 && !_disposed && Stopwatch.GetTimestamp() - start < spinTicks) Thread.SpinWait(16);
            if (_pending == 0 && !_disposed) _wake.Wait();
            if (_disposed) return;
            if (_pending == 0) continue; // a release left over from a step that found the worker spinning
            _pending = 0;
            try
            {
                _work(1);
                Sync();
            }
            catch (Exception ex)
            {
                // Recorded for the caller, whose barrier now gives up instead of waiting; the team is unusable from here.
                Interlocked.CompareExchange(ref _error, ex, null);
                _faulted = true;
            }
        }
    }

    /// <summary>Stops the worker thread (after the step in progress, if any).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _wake.Release();
        _worker.Join();
        _wake.Dispose();
    }
}
