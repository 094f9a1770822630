using System;
using System.Runtime.InteropServices;

namespace H3.Benchmarks.Profile;

/// <summary>
/// CPU time of the calling thread (Linux CLOCK_THREAD_CPUTIME_ID, nanosecond resolution). On a shared machine the
/// wall clock also counts the time other processes hold the core; this clock does not, so phase profiles stay
/// comparable while something else runs. Falls back to the wall clock elsewhere.
/// </summary>
internal static class ThreadClock
{
    private const int ClockThreadCpuTime = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static readonly bool s_available = OperatingSystem.IsLinux() && Probe();

    private static bool Probe()
    {
        try { return ClockGetTime(ClockThreadCpuTime, out _) == 0; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    /// <summary>Whether <see cref="Microseconds"/> is thread CPU time (true) or the wall clock.</summary>
    public static bool IsThreadTime => s_available;

    /// <summary>Microseconds on the thread CPU clock (or the wall clock when that is unavailable).</summary>
    public static double Microseconds()
    {
        if (s_available && ClockGetTime(ClockThreadCpuTime, out TimeSpec t) == 0)
            return t.Seconds * 1e6 + t.Nanoseconds / 1e3;
        return System.Diagnostics.Stopwatch.GetTimestamp() * 1e6 / System.Diagnostics.Stopwatch.Frequency;
    }
}
