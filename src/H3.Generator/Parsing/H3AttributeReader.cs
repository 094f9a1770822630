using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace H3.Generator.Parsing;

/// <summary>An argument the generator cannot use: not a constant, or a constant of the wrong type (H3015).</summary>
/// <param name="Property">The attribute property, e.g. "Hidden".</param>
/// <param name="Expression">The argument's value as written.</param>
/// <param name="TypeName">The property's C# type: "int", "float" or "long".</param>
internal sealed record BadArgument(string Property, ExpressionSyntax Expression, string TypeName);

/// <summary>
/// What one <c>[H3Model]</c> application says, read from its syntax and the semantic model. Transient: the
/// analyzer reports from it and the generator decides from it; neither stores it in a pipeline value.
/// </summary>
internal sealed class AttributeReading
{
    public H3Config Config { get; set; }

    public bool HasEmbedDim { get; set; }

    /// <summary>The parameter budget, when the attribute sets <c>MaxParameters</c>.</summary>
    public long? MaxParameters { get; set; }

    /// <summary>The value of each property given explicitly (the last one when a name repeats; the compiler reports CS0643).</summary>
    public Dictionary<string, ExpressionSyntax> Arguments { get; } = new();

    public List<BadArgument> BadArguments { get; } = new();

    /// <summary>
    /// True when an argument cannot be read for a reason the compiler already reports (a syntax error inside it,
    /// code still being typed). Nothing is validated then, and nothing is generated.
    /// </summary>
    public bool Incomplete { get; set; }

    /// <summary>Every value is known: the configuration rules can run on <see cref="Config"/>.</summary>
    public bool IsReadable => BadArguments.Count == 0 && !Incomplete;
}

/// <summary>
/// Reads <c>[H3Model]</c> arguments. It works from the syntax, not only from <see cref="AttributeData"/>, because
/// the compiler converts a wrongly typed constant for the attribute anyway (<c>EmbedDim = 3.5</c> arrives as 3,
/// <c>Dropout = 0.1</c> as 0.1f, next to its own CS0266/CS0664), and because a diagnostic needs the argument's location.
/// </summary>
internal static class H3AttributeReader
{
    private enum Kind { Int, Float, Long }

    private static readonly Dictionary<string, Kind> Properties = new()
    {
        ["EmbedDim"] = Kind.Int,
        ["Hidden"] = Kind.Int,
        ["State"] = Kind.Int,
        ["ConvSize"] = Kind.Int,
        ["Layers"] = Kind.Int,
        ["WindowSize"] = Kind.Int,
        ["Dropout"] = Kind.Float,
        ["EmbedDropout"] = Kind.Float,
        ["MaxParameters"] = Kind.Long,
    };

    /// <summary>A typical value per property, for the message of H3015.</summary>
    public static string Example(string property) => property switch
    {
        "EmbedDim" => "287",
        "Hidden" => "256",
        "State" => "64",
        "ConvSize" => "4",
        "Layers" => "4",
        "WindowSize" => "60",
        "Dropout" => "0.1f",
        "EmbedDropout" => "0.1f",
        _ => "5_000_000",
    };

    public static AttributeReading Read(AttributeData attribute, SemanticModel? model, CancellationToken cancellationToken)
    {
        var reading = new AttributeReading();
        int e = 0, h = H3Config.DefaultHidden, n = H3Config.DefaultState, k = H3Config.DefaultConvSize;
        int l = H3Config.DefaultLayers, t = H3Config.DefaultWindowSize;
        float p = H3Config.DefaultDropout, pe = 0f;

        void Set(string property, long integer, float real)
        {
            switch (property)
            {
                case "EmbedDim": e = (int)integer; reading.HasEmbedDim = true; break;
                case "Hidden": h = (int)integer; break;
                case "State": n = (int)integer; break;
                case "ConvSize": k = (int)integer; break;
                case "Layers": l = (int)integer; break;
                case "WindowSize": t = (int)integer; break;
                case "Dropout": p = real; break;
                case "EmbedDropout": pe = real; break;
                case "MaxParameters": reading.MaxParameters = integer; break;
            }
        }

        if (attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is AttributeSyntax syntax
            && model is not null && syntax.SyntaxTree == model.SyntaxTree)
        {
            if (syntax.ArgumentList is { } list)
            {
                foreach (AttributeArgumentSyntax argument in list.Arguments)
                {
                    // Positional arguments and unknown names are compiler errors (CS1729, CS0246); they set nothing.
                    if (argument.NameEquals is null) continue;
                    string name = argument.NameEquals.Name.Identifier.ValueText;
                    if (!Properties.TryGetValue(name, out Kind kind)) continue;
                    ExpressionSyntax expression = argument.Expression;
                    reading.Arguments[name] = expression;
                    if (expression.IsMissing || expression.ContainsDiagnostics)
                    {
                        reading.Incomplete = true;
                        continue;
                    }
                    switch (ReadConstant(model, expression, kind, cancellationToken, out long integer, out float real))
                    {
                        case null: Set(name, integer, real); break;
                        case string typeName: reading.BadArguments.Add(new BadArgument(name, expression, typeName)); break;
                    }
                }
            }
        }
        else
        {
            // No syntax to look at (not expected for source attributes): fall back to the bound arguments.
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (!Properties.TryGetValue(argument.Key, out Kind kind)) continue;
                object? value = argument.Value.Kind == TypedConstantKind.Primitive ? argument.Value.Value : null;
                if (TryConvert(value, kind, out long integer, out float real)) Set(argument.Key, integer, real);
                else reading.Incomplete = true;
            }
        }

        reading.Config = new H3Config(e, h, n, k, l, t, p) { EmbedP = pe };
        return reading;
    }

    /// <summary>Null when the expression is a constant implicitly convertible to the property's type; else that type's name.</summary>
    private static string? ReadConstant(SemanticModel model, ExpressionSyntax expression, Kind kind, CancellationToken cancellationToken,
        out long integer, out float real)
    {
        integer = 0;
        real = 0;
        string typeName = kind switch { Kind.Int => "int", Kind.Float => "float", _ => "long" };
        Optional<object?> constant = model.GetConstantValue(expression, cancellationToken);
        if (!constant.HasValue) return typeName;
        SpecialType special = kind switch { Kind.Int => SpecialType.System_Int32, Kind.Float => SpecialType.System_Single, _ => SpecialType.System_Int64 };
        Microsoft.CodeAnalysis.CSharp.Conversion conversion = model.ClassifyConversion(expression, model.Compilation.GetSpecialType(special));
        if (!conversion.Exists || !conversion.IsImplicit) return typeName;
        return TryConvert(constant.Value, kind, out integer, out real) ? null : typeName;
    }

    /// <summary>Applies an implicit numeric conversion of C# to a constant.</summary>
    private static bool TryConvert(object? value, Kind kind, out long integer, out float real)
    {
        integer = 0;
        real = 0;
        switch (kind)
        {
            case Kind.Float:
                switch (value)
                {
                    case float f: real = f; return true;
                    case int i: real = i; return true;
                    case long x: real = x; return true;
                    case uint x: real = x; return true;
                    case ulong x: real = x; return true;
                    case short x: real = x; return true;
                    case ushort x: real = x; return true;
                    case byte x: real = x; return true;
                    case sbyte x: real = x; return true;
                    case char x: real = x; return true;
                    default: return false;
                }
            case Kind.Int:
                switch (value)
                {
                    case int i: integer = i; return true;
                    case short x: integer = x; return true;
                    case ushort x: integer = x; return true;
                    case byte x: integer = x; return true;
                    case sbyte x: integer = x; return true;
                    case char x: integer = x; return true;
                    default: return false;
                }
            default:
                switch (value)
                {
                    case long x: integer = x; return true;
                    case int x: integer = x; return true;
                    case uint x: integer = x; return true;
                    case short x: integer = x; return true;
                    case ushort x: integer = x; return true;
                    case byte x: integer = x; return true;
                    case sbyte x: integer = x; return true;
                    case char x: integer = x; return true;
                    default: return false;
                }
        }
    }
}
