using System;
using System.IO;
using System.Runtime.CompilerServices;

namespace H3.Generator.Tests;

/// <summary>
/// Golden-file assertions for generated source. Files live in Snapshots/ next to this file (found through
/// [CallerFilePath]) and are compared byte-for-byte after normalising line ends to '\n'.
/// <list type="bullet">
/// <item>Missing file: it is written and the test fails ("review and commit"), unless H3_ACCEPT_SNAPSHOTS=1 (then it passes).</item>
/// <item>Mismatch: <c>&lt;name&gt;.received</c> is written beside it (gitignored) and the test fails; with
/// H3_ACCEPT_SNAPSHOTS=1 the golden file is overwritten instead and the test passes.</item>
/// <item>CI=true: nothing is ever written; a missing or different file just fails.</item>
/// </list>
/// </summary>
internal static class Snapshot
{
    public const string AcceptVariable = "H3_ACCEPT_SNAPSHOTS";

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static bool Accept => Environment.GetEnvironmentVariable(AcceptVariable) == "1";

    public static void Match(string actual, string name, [CallerFilePath] string callerPath = "")
    {
        string directory = Path.Combine(Path.GetDirectoryName(callerPath)!, "Snapshots");
        string path = Path.Combine(directory, name);
        string received = path + ".received";
        actual = Normalise(actual);

        if (!File.Exists(path))
        {
            if (IsCi)
                Assert.Fail($"Snapshot {path} is missing. Run the tests locally with {AcceptVariable}=1, review and commit it.");
            Directory.CreateDirectory(directory);
            File.WriteAllText(path, actual);
            if (!Accept)
                Assert.Fail($"Snapshot {path} did not exist and has been written: review it and commit it.");
            return;
        }

        string expected = Normalise(File.ReadAllText(path));
        if (expected == actual)
        {
            if (!IsCi && File.Exists(received)) File.Delete(received);
            return;
        }

        if (!IsCi && Accept)
        {
            File.WriteAllText(path, actual);
            if (File.Exists(received)) File.Delete(received);
            return;
        }

        if (!IsCi) File.WriteAllText(received, actual);
        string hint = $"Generated source differs from snapshot {name} {FirstDifference(expected, actual)}\n"
            + (IsCi ? "" : $"The new text is in {received}; diff it, and if the change is intended re-run with {AcceptVariable}=1.\n");
        try
        {
            Assert.Equal(expected, actual);
        }
        catch (Xunit.Sdk.XunitException ex)
        {
            throw new Xunit.Sdk.XunitException(hint + ex.Message);
        }
    }

    private static string Normalise(string text) => text.Replace("\r\n", "\n").Replace('\r', '\n');

    private static string FirstDifference(string expected, string actual)
    {
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string el = i < e.Length ? e[i] : "<end of file>", al = i < a.Length ? a[i] : "<end of file>";
            if (el != al) return $"at line {i + 1}:\n  expected: {el}\n  actual:   {al}";
        }
        return "(no line differs)";
    }
}
