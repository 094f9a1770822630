using System;

namespace H3.Generator.Diagnostics;

/// <summary>
/// Test hook: makes the analyzer/parser or the emitter throw for one class name, so the tests can prove that a
/// fault becomes H3099 or an <c>#error</c> line and never escapes (AD0001, CS8785). Null in every real build.
/// </summary>
internal static class FaultInjection
{
    /// <summary>Class name for which the rules (analyzer and generator parse step) throw.</summary>
    public static volatile string? RulesFailFor;

    /// <summary>Class name for which the generator's emit step throws.</summary>
    public static volatile string? EmitFailsFor;

    public static void Check(string? target, string name, string stage)
    {
        if (target is not null && string.Equals(target, name, StringComparison.Ordinal))
            throw new InvalidOperationException("fault injected into the " + stage + " for " + name);
    }
}
