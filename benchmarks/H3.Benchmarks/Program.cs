using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using H3;
using H3.Benchmarks;
using H3.Benchmarks.Profile;

// Usage (from the repository root):
//   dotnet run -c Release --project benchmarks/H3.Benchmarks                 all cases, ShortRun, in-process; table + chart
//   dotnet run -c Release --project benchmarks/H3.Benchmarks -- --profile    phase profile of the generated Forward (batch 1)
//   dotnet run -c Release --project benchmarks/H3.Benchmarks -- --kernels [batch]   each generated kernel alone at batch·T rows
//   dotnet run -c Release --project benchmarks/H3.Benchmarks -- --alloc      exact bytes allocated per timed call
//   dotnet run -c Release --project benchmarks/H3.Benchmarks -- --split      training forward/backward split; Step with/without CheckParameters
//   dotnet run -c Release --project benchmarks/H3.Benchmarks -- --bdn <BDN args>   plain BenchmarkSwitcher (e.g. --filter '*Step*')
if (args.Length > 0 && args[0] == "--profile")
{
    int batch = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
    PhaseProfile.Run(batch, reps: batch == 1 ? 300 : 30);
    return;
}

if (args.Length > 0 && args[0] == "--step2")
{
    // Memory-bandwidth probe for a two-core Step: one thread stepping, then two threads stepping their own streams of
    // the same model at once. If the per-frame time stays flat with two, the memory system feeds both cores.
    var model = new BenchModel(seed: 42);
    var frame = new float[BenchModel.EmbedDim];
    for (int i = 0; i < frame.Length; i++) frame[i] = 0.01f * i;
    double Run(int threads)
    {
        var times = new double[threads];
        var workers = new System.Threading.Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new System.Threading.Thread(() =>
            {
                H3StreamState st = model.CreateStream(1);
                st.CheckParameters = false;
                var o = new float[BenchModel.OutputSize];
                for (int i = 0; i < 300; i++) model.Step(frame, o, st);
                var sw = System.Diagnostics.Stopwatch.StartNew();
                for (int i = 0; i < 2000; i++) model.Step(frame, o, st);
                times[id] = sw.Elapsed.TotalMicroseconds / 2000;
            });
        }
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        return times.Average();
    }
    for (int rep = 0; rep < 2; rep++)
    {
        double one = Run(1), two = Run(2);
        Console.WriteLine($"Step without the check: 1 thread {one:F0} µs/frame ({Flops.ParameterBytes / one / 1e3:F1} GB/s); 2 threads at once {two:F0} µs/frame each ({2 * Flops.ParameterBytes / two / 1e3:F1} GB/s together)");
    }
    return;
}

if (args.Length > 0 && args[0] == "--kernels")
{
    KernelBench.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 32);
    return;
}

if (args.Length > 0 && args[0] == "--alloc")
{
    // Exact allocation check per timed call: the allocating thread's own counter (BDN in-process counts the whole
    // process, so background runtime threads show up as a few hundred bytes on long operations).
    var bench = new H3Bench();
    bench.Setup();
    var checks = new (string Name, Action Call, bool Threads)[]
    {
        ("Forward(1)", () => bench.Forward(1), false), ("Forward(8)", () => bench.Forward(8), false), ("Forward(32)", () => bench.Forward(32), false),
        ("BaselineForward(1)", () => bench.BaselineForward(1), false), ("BaselineForward(32)", () => bench.BaselineForward(32), false),
        ("Step", bench.Step, false), ("Step2Threads", bench.Step2Threads, true), ("TrainingStep(8)", () => bench.TrainingStep(8), false), ("TrainingStep(32)", () => bench.TrainingStep(32), false),
        ("Forward2Threads32", bench.Forward2Threads32, true), ("TrainingStep2Threads32", bench.TrainingStep2Threads32, true),
    };
    foreach (var (name, call, threads) in checks)
    {
        call(); call();
        long before = threads ? GC.GetTotalAllocatedBytes(true) : GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) call();
        long after = threads ? GC.GetTotalAllocatedBytes(true) : GC.GetAllocatedBytesForCurrentThread();
        Console.WriteLine($"{name}: {(after - before) / 5.0} bytes per call ({(threads ? "whole process" : "calling thread")})");
    }
    bench.Cleanup();
    return;
}

if (args.Length > 0 && args[0] == "--split")
{
    // Stopwatch split of the training step (forward vs backward) and of Step with/without the parameter check.
    var model = new BenchModel(seed: 42);
    var rng = new H3Random(7);
    const int b = 32;
    var input = new float[b * BenchModel.WindowSize * BenchModel.EmbedDim];
    for (int i = 0; i < input.Length; i++) input[i] = (float)rng.NextGaussian();
    var output = new float[b * BenchModel.OutputSize];
    var dOut = new float[b * BenchModel.OutputSize];
    for (int i = 0; i < dOut.Length; i++) dOut[i] = (float)rng.NextGaussian() / 64;
    H3Workspace ws = model.CreateWorkspace(b);
    double fwd = 0, bwd = 0;
    // Thread CPU time (ThreadClock): the split stays meaningful while other processes share the machine.
    for (int rep = -1; rep < 4; rep++)
    {
        double t0 = ThreadClock.Microseconds();
        model.Forward(input, output, b, ws, training: true);
        double t1 = ThreadClock.Microseconds();
        model.Backward(dOut, ws);
        double t2 = ThreadClock.Microseconds();
        if (rep >= 0) { fwd += (t1 - t0) / 1e3 / 4; bwd += (t2 - t1) / 1e3 / 4; }
    }
    double peakNow = PeakBench.MeasureNow();
    Console.WriteLine($"training batch 32, 1 thread: Forward(workspace) {fwd:F1} ms, Backward {bwd:F1} ms (backward/forward {bwd / fwd:F2}; FLOP ratio 2.0); "
        + $"step {3 * Flops.ForwardPerWindow * b / ((fwd + bwd) * 1e6):F1} GFLOP/s on the full-model count = {100 * 3 * Flops.ForwardPerWindow * b / ((fwd + bwd) * 1e6) / peakNow:F0} % of the {peakNow:F1} GFLOP/s measured now");
    foreach ((bool check, int threads) in new[] { (true, 1), (false, 1), (true, 2), (false, 2) })
    {
        using H3StreamState st = model.CreateStream(1, threads);
        st.CheckParameters = check;
        var frame = input.AsSpan(0, BenchModel.EmbedDim).ToArray();
        var o = new float[BenchModel.OutputSize];
        for (int i = 0; i < 200; i++) model.Step(frame, o, st);
        // Wall clock here: a two-thread step's worker time would be missing from the caller's CPU clock.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 2000; i++) model.Step(frame, o, st);
        double us = sw.Elapsed.TotalMicroseconds / 2000;
        Console.WriteLine($"Step, {threads} thread{(threads == 1 ? "" : "s")}, CheckParameters={check}: {us:F1} µs per frame, {Flops.ParameterBytes / us / 1e3:F1} GB/s of weights");
    }
    return;
}

string benchmarksDir = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../.."));   // benchmarks/
IConfig config = DefaultConfig.Instance
    .WithArtifactsPath(Path.Combine(benchmarksDir, "H3.Benchmarks", "BenchmarkDotNet.Artifacts"))
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
if (args.Length > 0 && args[0] == "--bdn")
{
    BenchmarkSwitcher.FromTypes(new[] { typeof(PeakBench), typeof(H3Bench) }).Run(args.Skip(1).ToArray(), config);
    return;
}

Summary peak = BenchmarkRunner.Run<PeakBench>(config);
Summary cases = BenchmarkRunner.Run<H3Bench>(config);

static double Median(Summary s, string method, int? batch = null)
{
    foreach (BenchmarkReport r in s.Reports)
    {
        if (r.BenchmarkCase.Descriptor.WorkloadMethod.Name != method || r.ResultStatistics is null) continue;
        if (batch is int b && !r.BenchmarkCase.Parameters.DisplayInfo.Contains("batch=" + b.ToString(CultureInfo.InvariantCulture) + "]", StringComparison.Ordinal)
            && !r.BenchmarkCase.Parameters.DisplayInfo.EndsWith("=" + b.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            && !r.BenchmarkCase.Parameters.DisplayInfo.Contains("=" + b.ToString(CultureInfo.InvariantCulture) + "]", StringComparison.Ordinal)) continue;
        return r.ResultStatistics.Median; // ns
    }
    return double.NaN;
}

static long? Allocated(Summary s)
{
    long max = 0;
    foreach (BenchmarkReport r in s.Reports)
        max = Math.Max(max, r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase) ?? 0);
    return max;
}

foreach (BenchmarkReport r in cases.Reports) Console.WriteLine($"// {r.BenchmarkCase.DisplayInfo} params='{r.BenchmarkCase.Parameters.DisplayInfo}' median={r.ResultStatistics?.Median:F0} ns");

double peak256 = PeakBench.Iterations * 12.0 * 8 * 2 / Median(peak, "PeakFma256");   // FLOP/ns = GFLOP/s
double peak512 = PeakBench.Iterations * 12.0 * 16 * 2 / Median(peak, "PeakFma512");
double peak1 = Math.Max(peak256, double.IsNaN(peak512) ? 0 : peak512);
var inv = CultureInfo.InvariantCulture;
var lines = new List<string>
{
    $"Measured peak, one core: Vector256 FMA {peak256.ToString("F1", inv)} GFLOP/s, Vector512 FMA {peak512.ToString("F1", inv)} GFLOP/s → peak used: {peak1.ToString("F1", inv)} GFLOP/s per core, {(2 * peak1).ToString("F1", inv)} on 2 cores.",
    "",
    "| case | ours | baseline | baseline / ours | GFLOP/s (ours) | % of measured peak |",
    "|---|---:|---:|---:|---:|---:|",
};
string Time(double ns) => double.IsNaN(ns) ? "–" : ns >= 1e6 ? (ns / 1e6).ToString("F2", inv) + " ms" : (ns / 1e3).ToString("F1", inv) + " µs";
void Row(string name, double ours, double baseline, double flop, double peakGflops)
{
    double gf = flop / ours;
    lines.Add($"| {name} | {Time(ours)} | {Time(baseline)} | {(double.IsNaN(baseline) ? "–" : (baseline / ours).ToString("F2", inv) + "×")} | {gf.ToString("F1", inv)} | {(100 * gf / peakGflops).ToString("F1", inv)} % |");
}
foreach (int b in new[] { 1, 8, 32 })
    Row($"Forward, batch {b}, 1 thread", Median(cases, "Forward", b), Median(cases, "BaselineForward", b), b * Flops.ForwardPerWindow, peak1);
Row("Forward, batch 32, 2 threads", Median(cases, "Forward2Threads32"), double.NaN, 32 * Flops.ForwardPerWindow, 2 * peak1);
double step = Median(cases, "Step");
Row("Step (1 frame, batch 1)", step, double.NaN, Flops.StepPerFrame, peak1);
double step2 = Median(cases, "Step2Threads");
Row("Step (1 frame, batch 1), 2 threads", step2, double.NaN, Flops.StepPerFrame, 2 * peak1);
foreach (int b in new[] { 8, 32 })
    Row($"Training step (Forward + Backward), batch {b}, 1 thread", Median(cases, "TrainingStep", b), double.NaN, b * Flops.TrainingPerWindow, peak1);
Row("Training step, batch 32, 2 threads", Median(cases, "TrainingStep2Threads32"), double.NaN, 32 * Flops.TrainingPerWindow, 2 * peak1);
lines.Add("");
lines.Add($"Step weight streaming: {Flops.ParameterBytes / step:F2} GB/s on one thread, {Flops.ParameterBytes / step2:F2} GB/s on two (13.6 MiB of parameters per frame). Max bytes allocated per timed call over all cases: {Allocated(cases)}.");
foreach (string l in lines) Console.WriteLine(l);

string dir = benchmarksDir;
File.WriteAllLines(Path.Combine(dir, "results-table.md"), lines);

var plot = new ScottPlot.Plot();
double[] xs = { 1, 8, 32 };
double[] ours = xs.Select(b => Median(cases, "Forward", (int)b) / 1e6).ToArray();
double[] baseline = xs.Select(b => Median(cases, "BaselineForward", (int)b) / 1e6).ToArray();
double[] bound = xs.Select(b => b * Flops.ForwardPerWindow / peak1 / 1e6).ToArray();
var s1 = plot.Add.Scatter(xs, ours); s1.LegendText = "generated Forward (1 thread)";
var s2 = plot.Add.Scatter(xs, baseline); s2.LegendText = "baseline C# + TensorPrimitives (1 thread)";
var s3 = plot.Add.Scatter(xs, bound); s3.LegendText = "FLOP bound at measured 1-core peak"; s3.LinePattern = ScottPlot.LinePattern.Dashed;
plot.Title("H3 seed model (E287 H256 N64 K4 L4 T60): Forward time vs batch");
plot.XLabel("batch (windows of 60 frames)");
plot.YLabel("median time per call (ms)");
plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
plot.SavePng(Path.Combine(dir, "forward-vs-batch.png"), 900, 550);
Console.WriteLine("wrote " + Path.Combine(dir, "results-table.md") + " and forward-vs-batch.png");
