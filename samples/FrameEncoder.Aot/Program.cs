using System;
using System.Runtime.InteropServices;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Runtime.Intrinsics;
using H3;

// The seed's game bot, deployed as a Native AOT binary: every frame (60 per second) the bot gets a 287-value state
// and wants a 256-value encoding of the last 60 frames. Forward re-reads the whole window each frame; Step feeds
// the one new frame to a recurrent state and gives the same encoding (H3-SPEC.md "Streaming").
//
//   dotnet run -c Release --project samples/FrameEncoder.Aot -- --write-reference ref.safetensors   (JIT)
//   dotnet publish samples/FrameEncoder.Aot -c Release -r linux-x64 -o out
//   out/FrameEncoder.Aot --check-reference ref.safetensors                                        (native)
//
// Options: --write-reference PATH, --check-reference PATH, --steps N (timed Step calls, default 3000),
// --forwards N (timed Forward calls, default 100), --no-bench.
return FrameEncoderAot.App.Run(args);

/// <summary>The seed's default model (3,569,152 parameters).</summary>
[H3Model(EmbedDim = 287, Hidden = 256, State = 64, ConvSize = 4, Layers = 4, WindowSize = 60, Dropout = 0.1f)]
public partial class FrameEncoder { }

namespace FrameEncoderAot
{
    internal static class App
    {
        private const int ModelSeed = 42, InputSeed = 7;
        private const int ReferenceBatch = 2;
        private const int ReferenceFrames = 2 * FrameEncoder.WindowSize + 5; // past T: the stream keeps its history
        private const double Tolerance = 1e-4;                               // relative to the largest |value|

        public static int Run(string[] args)
        {
            string? writePath = null, checkPath = null;
            int steps = 3000, forwards = 100;
            bool bench = true;
            for (int a = 0; a < args.Length; a++)
            {
                switch (args[a])
                {
                    case "--write-reference" when a + 1 < args.Length: writePath = args[++a]; break;
                    case "--check-reference" when a + 1 < args.Length: checkPath = args[++a]; break;
                    case "--steps" when a + 1 < args.Length: steps = int.Parse(args[++a], CultureInfo.InvariantCulture); break;
                    case "--forwards" when a + 1 < args.Length: forwards = int.Parse(args[++a], CultureInfo.InvariantCulture); break;
                    case "--no-bench": bench = false; break;
                    default:
                        Console.Error.WriteLine($"unknown or incomplete option '{args[a]}'. Options: --write-reference PATH, --check-reference PATH, --steps N, --forwards N, --no-bench");
                        return 2;
                }
            }

            if (steps < 1 || forwards < 1)
            {
                Console.Error.WriteLine("--steps and --forwards need at least 1 call each");
                return 2;
            }

            var model = new FrameEncoder(seed: ModelSeed);
            // PublishAot makes RuntimeFeature.IsDynamicCodeSupported false under the JIT too (so `dotnet run` behaves like the
            // native binary); a process that has JIT-compiled methods is not the native one.
            bool native = System.Runtime.JitInfo.GetCompiledMethodCount() == 0;
            Console.WriteLine($"FrameEncoder: E={FrameEncoder.EmbedDim} H={FrameEncoder.Hidden} N={FrameEncoder.State} K={FrameEncoder.ConvSize} "
                + $"L={FrameEncoder.Layers} T={FrameEncoder.WindowSize}, {FrameEncoder.ParameterCount:N0} parameters ({FrameEncoder.ParameterCount * 4.0 / (1 << 20):F1} MiB)");
            Console.WriteLine($"runtime: {(native ? "Native AOT" : "JIT")}, Vector256 {(Vector256.IsHardwareAccelerated ? "on" : "off")}, "
                + $"Vector512 {(Vector512.IsHardwareAccelerated ? "on" : "off")}, FMA {(System.Runtime.Intrinsics.X86.Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "on" : "off")}");
            if (native && Environment.ProcessPath is { } exe)
                Console.WriteLine($"binary: {exe} = {new FileInfo(exe).Length / (1024.0 * 1024.0):F2} MiB");

            int status = 0;
            if (writePath is not null) WriteReference(model, writePath);
            if (checkPath is not null && !CheckReference(model, checkPath)) status = 1;
            if (bench) Benchmark(model, steps, forwards);
            return status;
        }

        /// <summary>Deterministic input [ReferenceBatch, ReferenceFrames, E].</summary>
        private static float[] ReferenceInput()
        {
            var rng = new H3Random(InputSeed);
            var input = new float[ReferenceBatch * ReferenceFrames * FrameEncoder.EmbedDim];
            for (int i = 0; i < input.Length; i++) input[i] = (float)rng.NextGaussian();
            return input;
        }

        /// <summary>
        /// Streams every frame of <paramref name="input"/> through Step (returns [frames, batch, H]) and runs Forward on
        /// each stream's first T frames (returns [batch, H]).
        /// </summary>
        private static (float[] Steps, float[] Forward) Compute(FrameEncoder model, float[] input)
        {
            const int E = FrameEncoder.EmbedDim, H = FrameEncoder.OutputSize, T = FrameEncoder.WindowSize;
            H3StreamState state = model.CreateStream(ReferenceBatch);
            // The same streams stepped on two threads must give the same bits.
            using H3StreamState twoThreads = model.CreateStream(ReferenceBatch, threads: 2);
            var frame = new float[ReferenceBatch * E];
            var steps = new float[ReferenceFrames * ReferenceBatch * H];
            var stepTwo = new float[ReferenceBatch * H];
            for (int t = 0; t < ReferenceFrames; t++)
            {
                for (int b = 0; b < ReferenceBatch; b++)
                    input.AsSpan((b * ReferenceFrames + t) * E, E).CopyTo(frame.AsSpan(b * E, E));
                Span<float> stepOne = steps.AsSpan(t * ReferenceBatch * H, ReferenceBatch * H);
                model.Step(frame, stepOne, state);
                model.Step(frame, stepTwo, twoThreads);
                if (!MemoryMarshal.AsBytes(stepOne).SequenceEqual(MemoryMarshal.AsBytes(stepTwo.AsSpan())))
                    throw new InvalidOperationException($"the two-thread Step differs from the one-thread Step at frame {t}");
            }
            var window = new float[ReferenceBatch * T * E];
            for (int b = 0; b < ReferenceBatch; b++)
                input.AsSpan(b * ReferenceFrames * E, T * E).CopyTo(window.AsSpan(b * T * E, T * E));
            var forward = new float[ReferenceBatch * H];
            model.Forward(window, forward, ReferenceBatch);
            return (steps, forward);
        }

        private static void WriteReference(FrameEncoder model, string path)
        {
            float[] input = ReferenceInput();
            var (steps, forward) = Compute(model, input);
            Console.WriteLine($"stream after T frames vs Forward (same run): max relative error {StepTVersusForward(steps, forward):E2}");
            Safetensors.Write(path, new[]
            {
                new SafetensorsTensor("input", new[] { ReferenceBatch, ReferenceFrames, FrameEncoder.EmbedDim }, input),
                new SafetensorsTensor("steps", new[] { ReferenceFrames, ReferenceBatch, FrameEncoder.OutputSize }, steps),
                new SafetensorsTensor("forward", new[] { ReferenceBatch, FrameEncoder.OutputSize }, forward),
            }, new Dictionary<string, string>
            {
                ["runtime"] = System.Runtime.JitInfo.GetCompiledMethodCount() == 0 ? "native-aot" : "jit",
                ["model_seed"] = ModelSeed.ToString(CultureInfo.InvariantCulture),
            });
            Console.WriteLine($"reference written: {path} (Step over {ReferenceFrames} frames × {ReferenceBatch} streams, Forward on the first {FrameEncoder.WindowSize})");
        }

        private static bool CheckReference(FrameEncoder model, string path)
        {
            float[] input, expectedSteps, expectedForward;
            try
            {
                SafetensorsFile file = Safetensors.Read(path);
                input = file.ReadF32("input");
                expectedSteps = file.ReadF32("steps");
                expectedForward = file.ReadF32("forward");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or H3FormatException)
            {
                Console.WriteLine($"reference check: FAILED, cannot read '{path}': {e.Message}");
                return false;
            }
            if (input.Length != ReferenceBatch * ReferenceFrames * FrameEncoder.EmbedDim)
            {
                Console.WriteLine($"reference check: FAILED, '{path}' holds an input of {input.Length} floats, expected {ReferenceBatch * ReferenceFrames * FrameEncoder.EmbedDim}");
                return false;
            }
            var (steps, forward) = Compute(model, input);
            double stepError = MaxRelativeError(steps, expectedSteps);
            double forwardError = MaxRelativeError(forward, expectedForward);
            double selfError = StepTVersusForward(steps, forward);
            bool ok = stepError <= Tolerance && forwardError <= Tolerance && selfError <= Tolerance;
            Console.WriteLine($"reference check against {path}: Step (all {ReferenceFrames} frames) {stepError:E2}, Forward {forwardError:E2}, "
                + $"Step after T vs Forward {selfError:E2} (max relative errors, limit {Tolerance:E0}): {(ok ? "OK" : "FAILED")}");
            return ok;
        }

        private static double StepTVersusForward(float[] steps, float[] forward)
        {
            int t = FrameEncoder.WindowSize - 1, n = ReferenceBatch * FrameEncoder.OutputSize;
            return MaxRelativeError(steps.AsSpan(t * n, n), forward);
        }

        private static double MaxRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
        {
            if (actual.Length != expected.Length) return double.PositiveInfinity;
            double scale = 0, error = 0;
            foreach (float v in expected) scale = Math.Max(scale, Math.Abs(v));
            for (int i = 0; i < actual.Length; i++)
            {
                double d = Math.Abs((double)actual[i] - expected[i]);
                if (double.IsNaN(d)) return double.PositiveInfinity;
                error = Math.Max(error, d);
            }
            return error / Math.Max(scale, 1e-30);
        }

        private static void Benchmark(FrameEncoder model, int steps, int forwards)
        {
            const int E = FrameEncoder.EmbedDim, H = FrameEncoder.OutputSize, T = FrameEncoder.WindowSize;
            var rng = new H3Random(InputSeed, 1);
            var frames = new float[4096 * E];
            for (int i = 0; i < frames.Length; i++) frames[i] = (float)rng.NextGaussian();
            var output = new float[H];

            // Step at batch 1: one 287-value frame in, one 256-value encoding out. Four states on the same model: with the
            // default CheckParameters (every step verifies that the SSM parameters did not change) or with it off (a
            // deployed model whose parameters are fixed), on one thread or two (CreateStream(1, threads: 2): a worker takes
            // half of every matrix product). Timed in alternating rounds so all see the same machine.
            var configs = new (bool Check, int Threads)[] { (true, 1), (false, 1), (true, 2), (false, 2) };
            var states = new H3StreamState[configs.Length];
            var times = new double[configs.Length][];
            for (int c = 0; c < configs.Length; c++)
            {
                states[c] = model.CreateStream(1, configs[c].Threads);
                states[c].CheckParameters = configs[c].Check;
                times[c] = new double[steps];
                for (int i = 0; i < 200; i++) model.Step(frames.AsSpan(i % 4096 * E, E), output, states[c]); // warm-up
            }
            Console.WriteLine($"stream state for batch 1: {states[0].Length * 4 / (1024.0 * 1024.0):F2} MiB (history, SSM coefficient cache, scratch)");
            const int round = 250;
            for (int done = 0; done < steps; done += round)
            {
                for (int c = 0; c < configs.Length; c++)
                {
                    for (int i = done; i < Math.Min(done + round, steps); i++)
                    {
                        ReadOnlySpan<float> frame = frames.AsSpan(i % 4096 * E, E);
                        long start = Stopwatch.GetTimestamp();
                        model.Step(frame, output, states[c]);
                        times[c][i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                    }
                }
            }
            foreach (H3StreamState st in states) st.Dispose();

            // Forward at batch 1 on a full 60-frame window: what the bot would do every frame without streaming.
            ReadOnlySpan<float> window = frames.AsSpan(0, T * E);
            for (int i = 0; i < 3; i++) model.Forward(window, output, 1); // warm-up
            var forwardTimes = new double[forwards];
            for (int i = 0; i < forwards; i++)
            {
                long start = Stopwatch.GetTimestamp();
                model.Forward(window, output, 1);
                forwardTimes[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }

            Array.Sort(forwardTimes);
            double fwdP50 = Percentile(forwardTimes, 0.50), fwdP99 = Percentile(forwardTimes, 0.99);
            double stepP50 = 0, fixedP50 = 0;
            for (int c = 0; c < configs.Length; c++)
            {
                Array.Sort(times[c]);
                double p50 = Percentile(times[c], 0.50), p99 = Percentile(times[c], 0.99);
                if (c == 0) stepP50 = p50;
                if (c == 1) fixedP50 = p50;
                string label = $"Step, batch 1, {configs[c].Threads} thread{(configs[c].Threads == 1 ? ", " : "s,")} CheckParameters = {(configs[c].Check ? "true " : "false")}";
                Console.WriteLine($"{label} ({steps} calls): p50 {p50,8:F1} µs   p99 {p99,8:F1} µs");
            }
            Console.WriteLine($"Forward, batch 1, {T}-frame window ({forwards} calls):               p50 {fwdP50,8:F1} µs   p99 {fwdP99,8:F1} µs");
            Console.WriteLine($"speed-up of Step over a full-window Forward (p50, 1 thread): {fwdP50 / stepP50:F1}× ({fwdP50 / fixedP50:F1}× with CheckParameters = false); "
                + $"Step uses {100 * stepP50 / 16_667:F1} % of a 60 fps frame");
        }

        private static double Percentile(double[] sorted, double q) =>
            sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
