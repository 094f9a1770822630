using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace H3;

/// <summary>
/// Runs one body per shard on a fixed set of threads (the caller's thread runs shard 0), for data-parallel
/// training: split a batch into contiguous shards, give each its own <see cref="H3Workspace"/> and gradient
/// buffer, then add the shards' gradients in shard order. The split and the reduction order depend only on
/// the shard count, so the same seed and shard count give the same bits. Worker threads are created once;
/// <see cref="Run"/> allocates nothing.
/// </summary>
public sealed class H3ShardRunner : IDisposable
{
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _start;
    // Workers release it once per Run. A SemaphoreSlim allocates nothing when its waiter blocks; a CountdownEvent's
    // event allocates its lock object the first time the caller has to block, which showed up as 24 stray bytes in
    // some (timing-dependent) training epoch.
    private readonly SemaphoreSlim _done;
    private Action<int>? _body;
    private ExceptionDispatchInfo? _error;
    private volatile bool _disposed;

    /// <summary>Creates a runner for <paramref name="shards"/> concurrent shards (1 = run on the caller only).</summary>
    public H3ShardRunner(int shards)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shards);
        Shards = shards;
        _workers = new Thread[shards - 1];
        _start = new SemaphoreSlim[shards - 1];
        _done = new SemaphoreSlim(0);
        for (int i = 0; i < _workers.Length; i++)
        {
            int shard = i + 1;
            _start[i] = new SemaphoreSlim(0);
            _workers[i] = new Thread(() => Work(shard)) { IsBackground = true, Name = "H3 shard " + shard };
            _workers[i].Start();
        }
    }

    /// <summary>Number of shards (threads, the caller's included).</summary>
    public int Shards { get; }

    /// <summary>The first window and count of <paramref name="shard"/> when <paramref name="batch"/> windows are split evenly.</summary>
    public (int Start, int Count) Split(int batch, int shard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if ((uint)shard >= (uint)Shards) throw new ArgumentOutOfRangeException(nameof(shard), shard, $"shard must be in [0, {Shards}).");
        int baseCount = batch / Shards, extra = batch % Shards;
        int start = shard * baseCount + Math.Min(shard, extra);
        return (start, baseCount + (shard < extra ? 1 : 0));
    }

    /// <summary>Runs <paramref name="body"/>(shard) for every shard concurrently and waits for all; rethrows the first failure.</summary>
    public void Run(Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        ObjectDisposedException.ThrowIf(_disposed, this);
        _body = body;
        _error = null;
        for (int i = 0; i < _start.Length; i++) _start[i].Release();
        Execute(0);
        for (int i = 0; i < _workers.Length; i++) _done.Wait();
        _body = null;
        _error?.Throw();
    }

    private void Work(int shard)
    {
        while (true)
        {
            _start[shard - 1].Wait();
            if (_disposed) return;
            Execute(shard);
        }
    }

    private void Execute(int shard)
    {
        try
        {
            _body!(shard);
        }
        catch (Exception ex)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
        }
        finally
        {
            if (shard != 0) _done.Release();
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (SemaphoreSlim s in _start) s.Release();
        foreach (Thread t in _workers) t.Join();
        foreach (SemaphoreSlim s in _start) s.Dispose();
        _done.Dispose();
    }
}
