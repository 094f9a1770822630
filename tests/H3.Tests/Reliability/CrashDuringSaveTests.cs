using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using H3.SaveWorker;
using Xunit.Abstractions;

namespace H3.Tests.Reliability;

/// <summary>
/// Issue 7, part 2: a crash during a save. A child process (tests/H3.SaveWorker) saves two distinguishable weight
/// sets in turn with the generated <c>SaveWeights</c>, and is killed (SIGKILL on Linux) at random moments. After every
/// kill the file on disk must be byte for byte one of the two complete files, and must load.
/// </summary>
public sealed class CrashDuringSaveTests(ITestOutputHelper output)
{
    private const int Kills = 60;

    [Fact]
    public async System.Threading.Tasks.Task Killing_a_process_while_it_saves_leaves_a_complete_old_or_new_file()
    {
        using var dir = new Reliable.TempDir("h3-crash");
        string path = dir.File("weights.safetensors");
        var models = SaveWorkerModel.Seeds.Select(seed => new SaveWorkerModel(seed)).ToArray();
        byte[][] parameters = models.Select(m => Reliable.Bits(m.Parameters)).ToArray();
        byte[][] files = models.Select((m, i) =>
        {
            string reference = dir.File($"reference-{i}.safetensors");
            m.SaveWeights(reference);
            return File.ReadAllBytes(reference);
        }).ToArray();
        Assert.False(files[0].AsSpan().SequenceEqual(files[1]), "the two weight sets must be distinguishable");
        models[0].SaveWeights(path);

        string worker = typeof(SaveWorkerModel).Assembly.Location;
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var random = new Random(20260807);
        var seen = new int[2];
        int leftovers = 0;
        long saves = 0;
        var clock = Stopwatch.StartNew();
        for (int kill = 0; kill < Kills; kill++)
        {
            var start = new ProcessStartInfo(host)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(worker);
            start.ArgumentList.Add(path);
            using (Process process = Process.Start(start)!)
            {
                string? ready;
                try
                {
                    ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                }
                catch (TimeoutException)
                {
                    process.Kill();
                    throw new Xunit.Sdk.XunitException($"kill {kill}: the worker did not report ready within 30 s");
                }
                if (ready != "ready")
                {
                    process.Kill();
                    Assert.Fail($"kill {kill}: the worker did not start: '{ready}' {await process.StandardError.ReadToEndAsync()}");
                }
                // Kill somewhere in the first few dozen saves: before, inside or between them.
                int delay = random.Next(60);
                if (delay > 0) await System.Threading.Tasks.Task.Delay(delay);
                process.Kill();
                Assert.True(process.WaitForExit(30_000), $"kill {kill}: the worker did not exit within 30 s of SIGKILL");
                MatchCollection counts = Regex.Matches(await process.StandardOutput.ReadToEndAsync(), @"saved (\d+)");
                if (counts.Count > 0) saves += long.Parse(counts[^1].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }

            // The file is exactly one of the two complete files, and it loads into the model bit for bit.
            byte[] now = File.ReadAllBytes(path);
            int which = now.AsSpan().SequenceEqual(files[0]) ? 0 : now.AsSpan().SequenceEqual(files[1]) ? 1 : -1;
            Assert.True(which >= 0, $"kill {kill}: the file ({now.Length} bytes) is neither complete version ({files[0].Length} bytes)");
            var loaded = new SaveWorkerModel(seed: 99);
            loaded.LoadWeights(path);
            Assert.Equal(parameters[which], Reliable.Bits(loaded.Parameters));
            seen[which]++;

            // A kill inside a save may leave its temporary file behind (never the destination): count and clean.
            foreach (string temp in Directory.GetFiles(dir.Path, "weights.safetensors.tmp-*"))
            {
                leftovers++;
                File.Delete(temp);
            }
        }

        output.WriteLine($"{Kills} kills in {clock.Elapsed.TotalSeconds:F1} s; file held seed 1 {seen[0]} times, seed 2 {seen[1]} times; " +
                         $"at least {saves} saves completed; {leftovers} temporary files left by kills inside a save");
        Assert.True(seen[0] > 0 && seen[1] > 0, "the worker never replaced the file: the kills did not land among saves");
        Assert.True(leftovers > 0, "no kill landed inside a save (no temporary file was ever left): the test did not test anything");
    }
}
