using System;
using System.Collections.Generic;
using System.Globalization;

namespace H3.Benchmarks.Profile;

/// <summary>
/// Each generated kernel alone, at the shapes of a training step (rows = batch·T): GFLOP/s and the fraction of the
/// FMA peak measured in the same run, on the thread CPU clock. Says which kernel to work on next.
/// </summary>
public static class KernelBench
{
    private const int H = KernelsCopy.H, E = KernelsCopy.E, F = KernelsCopy.F, T = KernelsCopy.T;

    public static void Run(int batch)
    {
        int rows = batch * T;
        var rng = new H3Random(3);
        float[] Random(long n)
        {
            var a = new float[n];
            for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextGaussian() * 0.1f;
            return a;
        }
        float[] x = Random((long)rows * F), y = Random((long)rows * F), w = Random((long)F * Math.Max(E, F)), bias = Random(F);
        float[] dw = new float[F * Math.Max(E, F)], db = new float[F], pack = new float[KernelsCopy.PackLength];
        float[] kern = Random(T * H), d = Random(H), dKern = new float[T * H], dD = new float[H];
        var results = new List<(string Name, double Us, double Flop)>();
        void Time(string name, double flop, Action call)
        {
            call();
            int reps = Math.Max(3, (int)(2e9 / flop)); // about 2 GFLOP per measurement
            double t0 = ThreadClock.Microseconds();
            for (int i = 0; i < reps; i++) call();
            results.Add((name, (ThreadClock.Microseconds() - t0) / reps, flop));
        }
        void Dense(int inDim, int outDim, Action fwd, Action inGrad, Action wGrad)
        {
            double flop = 2.0 * rows * inDim * outDim;
            string shape = $"{inDim}→{outDim}";
            Time($"Linear {shape}", flop, fwd);
            if (inGrad is not null) Time($"InputGrad {shape}", flop, inGrad);
            Time($"WeightGrad {shape}", flop, wGrad);
        }
        Dense(E, H, () => KernelsCopy.Linear_287x256(x, rows, w, bias, y, false, pack),
            () => KernelsCopy.InputGrad_287x256(y, rows, w, x, false, pack),
            () => KernelsCopy.WeightGrad_287x256(y, x, rows, dw, db, pack));
        Dense(H, H, () => KernelsCopy.Linear_256x256(x, rows, w, bias, y, false, pack),
            () => KernelsCopy.InputGrad_256x256(y, rows, w, x, false, pack),
            () => KernelsCopy.WeightGrad_256x256(y, x, rows, dw, db, pack));
        Dense(H, F, () => KernelsCopy.Linear_256x1024(x, rows, w, bias, y, false, pack),
            () => KernelsCopy.InputGrad_256x1024(y, rows, w, x, false, pack),
            () => KernelsCopy.WeightGrad_256x1024(y, x, rows, dw, db, pack));
        Dense(F, H, () => KernelsCopy.Linear_1024x256(x, rows, w, bias, y, false, pack),
            () => KernelsCopy.InputGrad_1024x256(y, rows, w, x, false, pack),
            () => KernelsCopy.WeightGrad_1024x256(y, x, rows, dw, db, pack));
        // The same product with a different weight matrix each call, cycling through 14 MB like a model's layers do:
        // the weights come from L3 or memory, not L2.
        float[] many = Random(56L * H * H);
        int next = 0;
        Time("Linear 256→256, cold weights (56 matrices)", 2.0 * rows * H * H, () =>
        {
            KernelsCopy.Linear_256x256(x, rows, many.AsSpan((next++ % 56) * H * H, H * H), bias, y, false, pack);
        });
        float sink = 0;
        Time("Linear 256→256, cold weights, whole matrix read first", 2.0 * rows * H * H, () =>
        {
            var m = many.AsSpan((next++ % 56) * H * H, H * H);
            for (int i = 0; i < m.Length; i += 16) sink += m[i];
            KernelsCopy.Linear_256x256(x, rows, m, bias, y, false, pack);
        });
        Time("cold weights: read the matrix only", 2.0 * rows * H * H, () =>
        {
            var m = many.AsSpan((next++ % 56) * H * H, H * H);
            for (int i = 0; i < m.Length; i += 16) sink += m[i];
        });
        if (sink == 12345f) Console.WriteLine();
        double convFlop = 2.0 * batch * H * (T * (T + 1) / 2);
        Time("CausalConv, T taps", convFlop, () => KernelsCopy.CausalConv(x, kern, T, d, y, batch, pack));
        Time("CausalConvBackward, T taps", 2 * convFlop, () => KernelsCopy.CausalConvBackward(y, x, kern, T, d, w, dKern, dD, batch, pack));

        double peak = PeakBench.MeasureNow();
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"Generated kernels alone, rows = {rows} (batch {batch}), {(ThreadClock.IsThreadTime ? "thread CPU time" : "wall clock")}; FMA peak measured now {peak.ToString("F1", inv)} GFLOP/s");
        Console.WriteLine("| kernel | µs | GFLOP/s | % of peak |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (name, us, flop) in results)
            Console.WriteLine($"| {name} | {us.ToString("F0", inv)} | {(flop / us / 1e3).ToString("F1", inv)} | {(100 * flop / us / 1e3 / peak).ToString("F0", inv)} |");
    }
}
