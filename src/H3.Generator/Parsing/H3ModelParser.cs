using System.Collections.Generic;
using System.Text;
using System.Threading;
using H3.Generator.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace H3.Generator.Parsing;

/// <summary>Turns one <c>[H3Model]</c> class into an <see cref="H3ModelSpec"/>, or null when the model cannot be generated.</summary>
internal static class H3ModelParser
{
    public const string AttributeName = "H3.H3ModelAttribute";

    /// <summary>The pipeline's transform: never throws; returns null for anything that cannot be generated.</summary>
    public static H3ModelSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.Attributes.Length != 1) return null;
        if (type.TypeKind != TypeKind.Class || type.IsStatic || type.IsGenericType || type.IsRecord || type.IsFileLocal) return null;
        if (!IsPartial(type, cancellationToken)) return null;

        // The analyzer's rules decide: a model is generated exactly when H3ModelAnalyzer reports no error for it
        // (a second [H3Model] on another part is the compiler's CS0579; nothing is generated then either).
        if (H3ModelRules.H3Attributes(type, context.Attributes[0].AttributeClass).Length != 1) return null;
        if (H3ModelRules.HasErrors(H3ModelRules.CheckDeclaration(type, context.Attributes[0], cancellationToken))) return null;
        if (H3ModelRules.HasErrors(H3ModelRules.CheckConfiguration(type, context.Attributes[0], context.SemanticModel,
                DiagnosticSeverity.Info, cancellationToken, out AttributeReading reading)))
            return null;
        // An argument still being typed is the compiler's error, not the analyzer's: nothing to generate from either.
        if (!reading.IsReadable) return null;
        H3Config config = reading.Config;
        if (H3ConfigRules.Validate(config, type.Name, reading.HasEmbedDim, reading.MaxParameters).Count != 0) return null;

        // Enclosing types, outermost first; each must be a non-generic partial type.
        var containing = new List<string>();
        var hint = new StringBuilder(type.Name).Append(".g.cs");
        for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            if (outer.IsGenericType || outer.IsFileLocal || !IsPartial(outer, cancellationToken)) return null;
            string kind = outer.TypeKind switch
            {
                TypeKind.Struct => outer.IsRecord ? "record struct" : "struct",
                TypeKind.Interface => "interface",
                _ => outer.IsRecord ? "record" : "class",
            };
            containing.Insert(0, (outer.IsStatic ? "static " : "") + "partial " + kind + " " + Identifier(outer.Name));
            hint.Insert(0, outer.Name + ".");
        }

        // ToDisplayString escapes keywords ("@event.Models"): right for code, but '@' is not allowed in a hint name.
        string ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : "";
        if (ns.Length > 0) hint.Insert(0, ns.Replace("@", "") + ".");
        return new H3ModelSpec(ns, new EquatableArray<string>(containing.ToArray()), Identifier(type.Name), hint.ToString(), config);
    }

    /// <summary>A name as a C# identifier: reserved keywords need '@' (class @int).</summary>
    private static string Identifier(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

    private static bool IsPartial(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration
                && declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                return true;
        }
        return false;
    }
}
