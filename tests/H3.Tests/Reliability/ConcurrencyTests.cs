using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using H3.Tests.Models;
using Xunit.Abstractions;

namespace H3.Tests.Reliability;

/// <summary>
/// Issue 7, part 5: concurrent callers. Four threads share one model for about two seconds, each alternating
/// inference <c>Forward</c> calls (batch sizes 1 to 3, so the scratch pool hands out and takes back arrays of
/// different sizes) with whole <c>Step</c> sequences on its own stream state; every result must be bit-identical to
/// the same call made serially before the threads started.
/// </summary>
public sealed class ConcurrencyTests(ITestOutputHelper output)
{
    private const int Threads = 4;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(2);

    [Fact]
    public void Concurrent_Forward_and_Step_are_bit_identical_to_the_serial_run()
    {
        var model = new SmallModel(seed: 11);
        Sweep.Perturb(model, 12);
        const int E = SmallModel.EmbedDim, H = SmallModel.OutputSize, T = SmallModel.WindowSize;

        // Serial results first: Forward for batches 1..3, and a 2-stream Step sequence of 2T frames per thread.
        float[][] inputs = Enumerable.Range(1, 3).Select(b => Reliable.Random(b * T * E, 100 + b)).ToArray();
        byte[][] forwardExpected = inputs.Select((x, i) =>
        {
            var y = new float[(i + 1) * H];
            model.Forward(x, y, i + 1);
            return Reliable.Bits(y);
        }).ToArray();
        const int frames = 2 * T, streams = 2;
        float[][] stepInputs = Enumerable.Range(0, Threads).Select(t => Reliable.Random(frames * streams * E, 200 + t)).ToArray();
        byte[][] stepExpected = stepInputs.Select(x => StepAll(model, model.CreateStream(streams), x)).ToArray();
        byte[] parameters = Reliable.Bits(model.Parameters);

        var forwards = new int[Threads];
        var sequences = new int[Threads];
        var failures = new string?[Threads];
        using var start = new Barrier(Threads);
        var clock = Stopwatch.StartNew();
        Thread[] threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                H3StreamState state = model.CreateStream(streams);
                var y = new float[3 * H];
                start.SignalAndWait();
                var until = Stopwatch.StartNew();
                for (int i = 0; until.Elapsed < Duration && failures.All(f => f is null); i++)
                {
                    int b = (i + t) % 3;
                    Span<float> outSpan = y.AsSpan(0, (b + 1) * H);
                    model.Forward(inputs[b], outSpan, b + 1);
                    if (!Reliable.Bits(outSpan).AsSpan().SequenceEqual(forwardExpected[b]))
                        throw new InvalidOperationException($"Forward of batch {b + 1} differs from the serial result (call {i})");
                    forwards[t]++;
                    if (i % 4 == 3)
                    {
                        state.Reset();
                        if (!StepAll(model, state, stepInputs[t]).AsSpan().SequenceEqual(stepExpected[t]))
                            throw new InvalidOperationException($"Step sequence {sequences[t]} differs from the serial result");
                        sequences[t]++;
                    }
                }
            }
            catch (Exception ex)
            {
                failures[t] = $"thread {t}: {ex.GetType().Name}: {ex.Message}";
            }
        }) { IsBackground = true }).ToArray();
        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) Assert.True(thread.Join(TimeSpan.FromSeconds(60)), "a thread did not finish");

        output.WriteLine($"{Threads} threads for {clock.Elapsed.TotalSeconds:F1} s: {forwards.Sum()} Forward calls ({string.Join(", ", forwards)}), " +
                         $"{sequences.Sum()} Step sequences of {frames} frames ({string.Join(", ", sequences)})");
        Assert.Equal(new string?[Threads], failures);
        Assert.All(forwards, n => Assert.True(n >= 10, $"a thread made only {n} Forward calls"));
        Assert.All(sequences, n => Assert.True(n >= 2, $"a thread made only {n} Step sequences"));
        Assert.Equal(parameters, Reliable.Bits(model.Parameters));
    }

    /// <summary>Steps every frame of <paramref name="input"/> ([frames, batch, E]) and returns all outputs' bits.</summary>
    private static byte[] StepAll(SmallModel model, H3StreamState state, float[] input)
    {
        int batch = state.Batch, E = SmallModel.EmbedDim, H = SmallModel.OutputSize;
        int frames = input.Length / (batch * E);
        var outputs = new float[frames * batch * H];
        for (int f = 0; f < frames; f++)
        {
            model.Step(input.AsSpan(f * batch * E, batch * E), outputs.AsSpan(f * batch * H, batch * H), state);
        }
        return Reliable.Bits(outputs);
    }
}
