using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;

namespace H3.Benchmarks.Profile;

/// <summary>
/// Where the time goes in the generated Forward at batch 1: runs a copy of the generated kernels
/// (KernelsCopy.g.cs, see make-kernel-copy.sh) phase by phase, in the generated Forward's exact order and buffers,
/// timing each phase with Stopwatch over many repetitions. The sum is checked against the real Forward.
/// </summary>
public static class PhaseProfile
{
    private const int H = 256, E = 287, F = 1024, T = 60, Layers = 4, K = 4;

    public static void Run(int batch, int reps)
    {
        var model = new BenchModel(seed: 42);
        float[] p = model.Parameters.ToArray();
        var off = new Dictionary<string, int>();
        foreach (H3Tensor t in BenchModel.Tensors) off[t.Name] = t.Offset;
        var rng = new H3Random(7);
        var input = new float[batch * T * E];
        for (int i = 0; i < input.Length; i++) input[i] = (float)rng.NextGaussian();
        var output = new float[batch * H];
        var check = new float[batch * H];
        var scratch = new float[KernelsCopy.ScratchLength(batch)];
        var times = new Dictionary<string, double>();
        var order = new List<string>();
        double t0 = 0;
        void Start() => t0 = ThreadClock.Microseconds();
        void Stop(string name)
        {
            double us = ThreadClock.Microseconds() - t0;
            if (!times.TryAdd(name, us)) times[name] += us; else order.Add(name);
        }
        ReadOnlySpan<float> P(string name, int len) => p.AsSpan(off[name], len);

        for (int rep = -20; rep < reps; rep++)
        {
            if (rep == 0) { times.Clear(); order.Clear(); }
            int rows = batch * T;
            var b = new KernelsCopy.Buffers(scratch, rows);
            Start(); KernelsCopy.Linear_287x256(input, rows, P("input_proj.weight", H * E), P("input_proj.bias", H), b.X, false, b.Pack); Stop("input_proj 287→256 (GEMM)");
            for (int i = 0; i < Layers; i++)
            {
                string l = "layers." + i.ToString(CultureInfo.InvariantCulture) + ".";
                bool last = i == Layers - 1;
                Start(); KernelsCopy.LayerNorm(b.X, rows, P(l + "norm1.weight", H), P(l + "norm1.bias", H), b.Z); Stop("LayerNorm ×2 + final");
                Start();
                KernelsCopy.Linear_256x256(b.Z, rows, P(l + "mixer.q_proj.weight", H * H), P(l + "mixer.q_proj.bias", H), b.Q, false, b.Pack);
                KernelsCopy.Linear_256x256(b.Z, rows, P(l + "mixer.k_proj.weight", H * H), P(l + "mixer.k_proj.bias", H), b.Key, false, b.Pack);
                KernelsCopy.Linear_256x256(b.Z, rows, P(l + "mixer.v_proj.weight", H * H), P(l + "mixer.v_proj.bias", H), b.Value, false, b.Pack);
                Stop("q,k,v 256→256 (GEMM)");
                Start();
                KernelsCopy.EnsureSsmKernels(p, off[l + "mixer.shift.B"], b.Cache.Slice(i * KernelsCopy.LayerCache, KernelsCopy.LayerCache), out Span<float> ks, out Span<float> kd);
                Stop("SSM kernel cache check (Ks, Kd)");
                Start();
                KernelsCopy.CausalConv(b.Key, ks, KernelsCopy.ShiftTaps, P(l + "mixer.shift.D", H), b.Z, batch, b.Pack);
                System.Numerics.Tensors.TensorPrimitives.Multiply(b.Z, b.Value, b.Z);
                Stop("shift SSM conv ⊙ v");
                Start();
                KernelsCopy.CausalConv(b.Z, kd, T, P(l + "mixer.diag.D", H), b.Key, batch, b.Pack);
                System.Numerics.Tensors.TensorPrimitives.Multiply(b.Key, b.Q, b.Key);
                Stop("diag SSM conv ⊙ q");
                Start(); KernelsCopy.ShortConv(b.Key, P(l + "mixer.conv.weight", H * K), P(l + "mixer.conv.bias", H), b.ConvKernel, b.Value, batch);
                KernelsCopy.SiluRows(b.Value, rows); Stop("short conv + SiLU");
                Span<float> x = b.X, m = b.Value;
                int n = rows;
                if (last)
                {
                    KernelsCopy.GatherLastFrames(b.X, batch, b.Q);
                    KernelsCopy.GatherLastFrames(m, batch, b.Z);
                    x = b.Q.Slice(0, batch * H); m = b.Z.Slice(0, batch * H); n = batch;
                }
                string tag = last ? " (last layer, last frame)" : "";
                Start(); KernelsCopy.Linear_256x256(m, n, P(l + "mixer.out_proj.weight", H * H), P(l + "mixer.out_proj.bias", H), x, true, b.Pack); Stop("out_proj 256→256 (GEMM)" + tag);
                Start(); KernelsCopy.LayerNorm(x, n, P(l + "norm2.weight", H), P(l + "norm2.bias", H), b.U); Stop("LayerNorm ×2 + final");
                Start(); KernelsCopy.Linear_256x1024(b.U, n, P(l + "mlp.fc1.weight", F * H), P(l + "mlp.fc1.bias", F), b.Ffn, false, b.Pack); Stop("fc1 256→1024 (GEMM)" + tag);
                Start(); KernelsCopy.GeluRows(b.Ffn, n); Stop("GELU");
                Start(); KernelsCopy.Linear_1024x256(b.Ffn, n, P(l + "mlp.fc2.weight", H * F), P(l + "mlp.fc2.bias", H), x, true, b.Pack); Stop("fc2 1024→256 (GEMM)" + tag);
            }
            Start(); KernelsCopy.LayerNorm(b.Q, batch, P("final_norm.weight", H), P("final_norm.bias", H), output); Stop("LayerNorm ×2 + final");
        }

        // The real generated Forward, for comparison (same parameters; BenchModel(seed 42) unperturbed).
        model.Forward(input, check, batch);
        for (int i = 0; i < check.Length; i++)
            if (Math.Abs(check[i] - output[i]) > 1e-5f) throw new InvalidOperationException("kernel copy disagrees with the generated Forward");
        for (int i = 0; i < 20; i++) model.Forward(input, check, batch);
        double start = ThreadClock.Microseconds();
        for (int i = 0; i < reps; i++) model.Forward(input, check, batch);
        double real = (ThreadClock.Microseconds() - start) / reps;

        double rowsD = batch * T;
        var flops = new Dictionary<string, double>
        {
            ["input_proj 287→256 (GEMM)"] = 2 * rowsD * E * H,
            ["q,k,v 256→256 (GEMM)"] = Layers * 3 * 2 * rowsD * H * H,
            ["out_proj 256→256 (GEMM)"] = (Layers - 1) * 2 * rowsD * H * H,
            ["fc1 256→1024 (GEMM)"] = (Layers - 1) * 2 * rowsD * H * F,
            ["fc2 1024→256 (GEMM)"] = (Layers - 1) * 2 * rowsD * H * F,
            ["out_proj 256→256 (GEMM) (last layer, last frame)"] = 2.0 * batch * H * H,
            ["fc1 256→1024 (GEMM) (last layer, last frame)"] = 2.0 * batch * H * F,
            ["fc2 1024→256 (GEMM) (last layer, last frame)"] = 2.0 * batch * H * F,
            ["shift SSM conv ⊙ v"] = Layers * 2.0 * batch * H * 1830,
            ["diag SSM conv ⊙ q"] = Layers * 2.0 * batch * H * 1830,
        };
        double total = 0;
        foreach (string k in order) total += times[k] / reps;
        double peak = PeakBench.MeasureNow();
        Console.WriteLine($"FMA peak of this core measured just now: {peak.ToString("F1", CultureInfo.InvariantCulture)} GFLOP/s (a busy machine lowers it: compare fractions).");
        Console.WriteLine($"Generated Forward phase profile, batch {batch}, {reps} reps (µs per call, {(ThreadClock.IsThreadTime ? "thread CPU time" : "wall clock")}):");
        Console.WriteLine("| phase | µs | % | GFLOP/s | % of peak |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (string k in order)
        {
            double us = times[k] / reps;
            bool counted = flops.TryGetValue(k, out double fl);
            string g = counted ? (fl / us / 1e3).ToString("F1", CultureInfo.InvariantCulture) : "";
            string f = counted ? (100 * fl / us / 1e3 / peak).ToString("F0", CultureInfo.InvariantCulture) : "";
            Console.WriteLine($"| {k} | {us.ToString("F0", CultureInfo.InvariantCulture)} | {(100 * us / total).ToString("F1", CultureInfo.InvariantCulture)} | {g} | {f} |");
        }
        Console.WriteLine($"| **sum of phases** | {total.ToString("F0", CultureInfo.InvariantCulture)} | 100 | {(Flops.ForwardPerWindow * batch / total / 1e3).ToString("F1", CultureInfo.InvariantCulture)} (full-model count) | {(100 * Flops.ForwardPerWindow * batch / total / 1e3 / peak).ToString("F0", CultureInfo.InvariantCulture)} |");
        Console.WriteLine($"| real generated Forward (same clock, same input) | {real.ToString("F0", CultureInfo.InvariantCulture)} | | {(Flops.ForwardPerWindow * batch / real / 1e3).ToString("F1", CultureInfo.InvariantCulture)} | {(100 * Flops.ForwardPerWindow * batch / real / 1e3 / peak).ToString("F0", CultureInfo.InvariantCulture)} |");
    }
}
