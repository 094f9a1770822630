using System;
using System.Globalization;
using System.Linq;
using System.Text;

namespace H3.Generator.Tests;

/// <summary>Same input, same bytes: across runs and whatever culture the build machine runs under.</summary>
public class DeterminismTests
{
    private static byte[][] GenerateBytes()
    {
        GeneratorRunOutput run = GeneratorHarness.Run(
            TestModels.Tiny.Source, TestModels.Default.Source, TestModels.Nested.Source, TestModels.ByName("odd E 7 H 9").Source);
        Assert.Equal(4, run.Sources.Length);
        return run.Sources
            .OrderBy(s => s.HintName, StringComparer.Ordinal)
            .Select(s => Encoding.UTF8.GetBytes(s.HintName + "\n" + s.SourceText))
            .ToArray();
    }

    [Fact]
    public void Generating_twice_gives_identical_bytes()
    {
        byte[][] first = GenerateBytes(), second = GenerateBytes();
        Assert.Equal(first.Length, second.Length);
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }

    [Theory]
    [InlineData("de-DE")] // decimal comma, '.' as group separator
    [InlineData("fr-FR")] // decimal comma, narrow no-break space as group separator
    [InlineData("ar-SA")] // Arabic: different negative sign, percent and digits data
    public void Output_does_not_depend_on_the_current_culture(string cultureName)
    {
        byte[][] invariant = WithCulture(CultureInfo.InvariantCulture, GenerateBytes);
        var culture = CultureInfo.GetCultureInfo(cultureName);
        // Guard against a globalization-invariant runtime, where every culture would behave like the invariant one.
        Assert.NotEqual(1.5.ToString(CultureInfo.InvariantCulture), 1.5.ToString(culture));
        byte[][] localised = WithCulture(culture, GenerateBytes);
        Assert.Equal(invariant.Length, localised.Length);
        for (int i = 0; i < invariant.Length; i++)
            Assert.True(invariant[i].AsSpan().SequenceEqual(localised[i]),
                $"{cultureName}: file {i} differs from the invariant-culture output:\n" + FirstDifference(invariant[i], localised[i]));
    }

    private static T WithCulture<T>(CultureInfo culture, Func<T> action)
    {
        CultureInfo culture0 = CultureInfo.CurrentCulture, ui0 = CultureInfo.CurrentUICulture;
        try
        {
            CultureInfo.CurrentCulture = culture;
            CultureInfo.CurrentUICulture = culture;
            return action();
        }
        finally
        {
            CultureInfo.CurrentCulture = culture0;
            CultureInfo.CurrentUICulture = ui0;
        }
    }

    private static string FirstDifference(byte[] expected, byte[] actual)
    {
        string[] e = Encoding.UTF8.GetString(expected).Split('\n'), a = Encoding.UTF8.GetString(actual).Split('\n');
        for (int i = 0; i < Math.Min(e.Length, a.Length); i++)
            if (e[i] != a[i]) return $"line {i + 1}:\n  invariant: {e[i]}\n  localised: {a[i]}";
        return $"line counts {e.Length} vs {a.Length}";
    }
}
