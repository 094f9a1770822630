using System.Globalization;

namespace H3.Generator.Parsing;

/// <summary>Culture-independent number formatting: generated code and messages must not depend on the build machine's locale.</summary>
internal static class Format
{
    public static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>1234567 → "1,234,567".</summary>
    public static string Thousands(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>1234567 → "1_234_567" (a C# literal).</summary>
    public static string Literal(long value) => value < 10_000 ? Int(value) : Thousands(value).Replace(',', '_');

    /// <summary>A float literal that round-trips, e.g. "0.1f".</summary>
    public static string Float(float value) => value.ToString("R", CultureInfo.InvariantCulture) + "f";

    /// <summary>A double literal that round-trips.</summary>
    public static string Double(double value)
    {
        string s = value.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains(".") || s.Contains("E") ? s : s + ".0";
    }
}
