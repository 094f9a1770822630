using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace H3.Generator.Diagnostics;

/// <summary>
/// The members the generator adds to a model class (API.md), so a user member with the same name is reported
/// (H3008) instead of surfacing as CS0102/CS0111 inside a generated file. A user method that only shares a
/// generated method's name is a legal overload and is not reported; only the same parameter list clashes.
/// </summary>
internal static class GeneratedMembers
{
    /// <summary>Prefix of the generated private members (fields such as <c>__h3_parameters</c>).</summary>
    public const string PrivatePrefix = "__h3_";

    private const string ReadOnlySpan = "global::System.ReadOnlySpan<float>", Span = "global::System.Span<float>";
    private const string Workspace = "global::H3.H3Workspace", StreamState = "global::H3.H3StreamState";

    /// <summary>Generated constants and properties: any user member with one of these names clashes.</summary>
    private static readonly Dictionary<string, string> NonMethods = new()
    {
        ["EmbedDim"] = "the constant EmbedDim",
        ["Hidden"] = "the constant Hidden",
        ["State"] = "the constant State",
        ["ConvSize"] = "the constant ConvSize",
        ["Layers"] = "the constant Layers",
        ["WindowSize"] = "the constant WindowSize",
        ["FfnDim"] = "the constant FfnDim",
        ["OutputSize"] = "the constant OutputSize",
        ["ParameterCount"] = "the constant ParameterCount",
        ["DropoutRate"] = "the constant DropoutRate",
        ["EmbedDropoutRate"] = "the constant EmbedDropoutRate",
        ["Parameters"] = "the property Span<float> Parameters",
        ["Gradients"] = "the property Span<float> Gradients",
        ["Tensors"] = "the static property ReadOnlySpan<H3Tensor> Tensors",
        ["Info"] = "the static property H3ModelInfo Info",
    };

    /// <summary>Generated methods and their parameter lists (fully qualified parameter types).</summary>
    private static readonly Dictionary<string, string[][]> Methods = new()
    {
        ["Forward"] = new[] { new[] { ReadOnlySpan, Span, "int" }, new[] { ReadOnlySpan, Span, "int", Workspace, "bool" } },
        ["ForwardSequence"] = new[] { new[] { ReadOnlySpan, Span, "int", Workspace, "bool" } },
        ["Backward"] = new[] { new[] { ReadOnlySpan, Workspace, Span }, new[] { ReadOnlySpan, Workspace, Span, Span } },
        ["BackwardSequence"] = new[] { new[] { ReadOnlySpan, Workspace, Span }, new[] { ReadOnlySpan, Workspace, Span, Span } },
        ["ZeroGradients"] = new[] { new string[0] },
        ["CreateWorkspace"] = new[] { new[] { "int" } },
        ["SaveWeights"] = new[] { new[] { "string" } },
        ["LoadWeights"] = new[] { new[] { "string" } },
        ["CreateStream"] = new[] { new[] { "int" } },
        ["Step"] = new[] { new[] { ReadOnlySpan, Span, StreamState } },
    };

    /// <summary>Every name the generator gives a member of the model class.</summary>
    public static IEnumerable<string> Names => NonMethods.Keys.Concat(Methods.Keys);

    public static bool IsGeneratedName(string name) => NonMethods.ContainsKey(name) || Methods.ContainsKey(name);

    /// <summary>What the generator adds that <paramref name="member"/> clashes with, or null when it does not clash.</summary>
    public static string? Clash(ISymbol member)
    {
        if (member.IsImplicitlyDeclared) return null;
        string name = member.Name;
        if (member is IMethodSymbol method)
        {
            switch (method.MethodKind)
            {
                case MethodKind.Constructor:
                    return !method.IsStatic && HasParameters(method, "int") ? "the constructor " + method.ContainingType.Name + "(int seed = 0)" : null;
                case MethodKind.Ordinary:
                    break;
                default:
                    return null; // accessors, operators, finalizers, explicit interface implementations
            }
            if (name.StartsWith(PrivatePrefix, System.StringComparison.Ordinal)) return PrivateText;
            if (NonMethods.TryGetValue(name, out string? what)) return what;
            if (method.Arity == 0 && Methods.TryGetValue(name, out string[][]? overloads))
                foreach (string[] parameters in overloads)
                    if (HasParameters(method, parameters))
                        return "the method " + name + "(" + string.Join(", ", parameters.Select(Short)) + ")";
            return null;
        }
        if (member is IPropertySymbol { IsIndexer: true } || name.Contains(".")) return null;
        if (name.StartsWith(PrivatePrefix, System.StringComparison.Ordinal)) return PrivateText;
        if (NonMethods.TryGetValue(name, out string? text)) return text;
        if (Methods.ContainsKey(name)) return "the method " + name;
        return null;
    }

    private const string PrivateText = "names starting with " + PrivatePrefix + " are reserved for its private members";

    private static bool HasParameters(IMethodSymbol method, params string[] types)
    {
        if (method.Parameters.Length != types.Length) return false;
        for (int i = 0; i < types.Length; i++)
        {
            IParameterSymbol parameter = method.Parameters[i];
            if (parameter.RefKind != RefKind.None || parameter.Type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) != types[i])
                return false;
        }
        return true;
    }

    private static string Short(string type) => type.Replace("global::System.", "").Replace("global::H3.", "");
}
