using System.Collections.Generic;
using System.Collections.Immutable;
using System.Threading;
using H3.Generator.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace H3.Generator.Diagnostics;

/// <summary>
/// Every rule about one <c>[H3Model]</c> class, as diagnostics with locations: the shape of the declaration
/// (<see cref="CheckDeclaration"/>) and the attribute's arguments (<see cref="CheckConfiguration"/>, which runs
/// <see cref="H3ConfigRules"/>). <see cref="H3ModelAnalyzer"/> reports them; the generator generates a model only
/// when neither finds an error. Both take what the caller already has, so they are cheap enough for every keystroke.
/// </summary>
internal static class H3ModelRules
{
    /// <summary>The <c>[H3Model]</c> applications on <paramref name="type"/> (more than one is the compiler's CS0579).</summary>
    public static ImmutableArray<AttributeData> H3Attributes(INamedTypeSymbol type, INamedTypeSymbol? attributeType)
    {
        ImmutableArray<AttributeData>.Builder? found = null;
        foreach (AttributeData attribute in type.GetAttributes())
        {
            if (attributeType is not null
                ? SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, attributeType)
                : attribute.AttributeClass is { Name: "H3ModelAttribute", ContainingNamespace: { Name: "H3", ContainingNamespace.IsGlobalNamespace: true } })
            {
                (found ??= ImmutableArray.CreateBuilder<AttributeData>()).Add(attribute);
            }
        }
        return found?.ToImmutable() ?? ImmutableArray<AttributeData>.Empty;
    }

    /// <summary>True when any diagnostic is an error: the generator then skips the model.</summary>
    public static bool HasErrors(List<Diagnostic> diagnostics)
    {
        foreach (Diagnostic diagnostic in diagnostics)
            if (diagnostic.Severity == DiagnosticSeverity.Error) return true;
        return false;
    }

    /// <summary>
    /// Rules about the class itself: partial, not generic, not static, not a record, not file-local, containing
    /// types partial and not generic, no member or class name the generator needs. Empty for anything that is not
    /// a class (the compiler reports CS0592 for [H3Model] there).
    /// </summary>
    public static List<Diagnostic> CheckDeclaration(INamedTypeSymbol type, AttributeData attribute, CancellationToken cancellationToken)
    {
        var diagnostics = new List<Diagnostic>();
        FaultInjection.Check(FaultInjection.RulesFailFor, type.Name, "declaration rules");
        if (type.TypeKind != TypeKind.Class) return diagnostics;
        Location name = ClassNameLocation(type, attribute, cancellationToken);
        string display = type.Name;

        if (!IsPartial(type, cancellationToken)) diagnostics.Add(Diagnostic.Create(H3Descriptors.ModelNotPartial, name, display));
        if (type.TypeParameters.Length > 0) diagnostics.Add(Diagnostic.Create(H3Descriptors.GenericModel, name, display));
        if (type.IsStatic) diagnostics.Add(Diagnostic.Create(H3Descriptors.StaticModel, name, display));
        if (type.IsRecord) diagnostics.Add(Diagnostic.Create(H3Descriptors.RecordModel, name, display));
        if (type.IsFileLocal) diagnostics.Add(Diagnostic.Create(H3Descriptors.FileLocalModel, name, display, display));
        if (GeneratedMembers.IsGeneratedName(type.Name)) diagnostics.Add(Diagnostic.Create(H3Descriptors.ModelNameClash, name, display));

        bool genericReported = false;
        for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            Location outerName = TypeNameLocation(outer, cancellationToken) ?? name;
            if (outer.TypeParameters.Length > 0 && !genericReported)
            {
                diagnostics.Add(Diagnostic.Create(H3Descriptors.NestedInGenericType, name, display, outer.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)));
                genericReported = true;
            }
            if (!IsPartial(outer, cancellationToken)) diagnostics.Add(Diagnostic.Create(H3Descriptors.ContainingTypeNotPartial, outerName, outer.Name, display));
            if (outer.IsFileLocal) diagnostics.Add(Diagnostic.Create(H3Descriptors.FileLocalModel, outerName, outer.Name, display));
        }

        foreach (ISymbol member in type.GetMembers())
        {
            cancellationToken.ThrowIfCancellationRequested();
            string? clash = GeneratedMembers.Clash(member);
            if (clash is null) continue;
            Location? location = UserLocation(member, cancellationToken);
            if (location is null) continue; // declared only in H3's own generated file: that is the generated member itself
            string memberName = member is IMethodSymbol { MethodKind: MethodKind.Constructor } ? type.Name + "(int)" : member.Name;
            diagnostics.Add(Diagnostic.Create(H3Descriptors.MemberClash, location, display, memberName, clash));
        }
        return diagnostics;
    }

    /// <summary>
    /// Rules about the attribute's arguments: constant and well typed (H3015), then <see cref="H3ConfigRules.Validate"/>;
    /// for a valid configuration also the performance hints and the size report (H3020, at
    /// <paramref name="parameterCountSeverity"/>). <paramref name="model"/> must be the semantic model of the
    /// attribute's syntax tree.
    /// </summary>
    public static List<Diagnostic> CheckConfiguration(INamedTypeSymbol type, AttributeData attribute, SemanticModel model,
        DiagnosticSeverity parameterCountSeverity, CancellationToken cancellationToken, out AttributeReading reading)
    {
        var diagnostics = new List<Diagnostic>();
        FaultInjection.Check(FaultInjection.RulesFailFor, type.Name, "configuration rules");
        reading = H3AttributeReader.Read(attribute, model, cancellationToken);
        AttributeSyntax? syntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        Location attributeName = syntax?.Name.GetLocation() ?? ClassNameLocation(type, attribute, cancellationToken);

        foreach (BadArgument bad in reading.BadArguments)
            diagnostics.Add(Diagnostic.Create(H3Descriptors.ArgumentNotConstant, bad.Expression.GetLocation(),
                bad.Property, ExpressionText(bad.Expression), bad.TypeName, H3AttributeReader.Example(bad.Property)));
        if (!reading.IsReadable) return diagnostics;

        AttributeReading read = reading;
        Location Where(ConfigProblem problem)
        {
            foreach (string property in problem.Properties)
                if (read.Arguments.TryGetValue(property, out ExpressionSyntax? expression)) return expression.GetLocation();
            return attributeName;
        }
        void Report(ConfigProblem problem, DiagnosticSeverity severity) =>
            diagnostics.Add(Diagnostic.Create(problem.Rule, Where(problem), severity, additionalLocations: null, properties: null, Args(problem)));

        List<ConfigProblem> problems = H3ConfigRules.Validate(reading.Config, type.Name, reading.HasEmbedDim, reading.MaxParameters);
        foreach (ConfigProblem problem in problems) Report(problem, problem.Rule.DefaultSeverity);
        if (problems.Count != 0) return diagnostics;

        foreach (ConfigProblem hint in H3ConfigRules.Hints(reading.Config)) Report(hint, hint.Rule.DefaultSeverity);
        ConfigProblem summary = H3ConfigRules.Summary(reading.Config, type.Name);
        diagnostics.Add(Diagnostic.Create(summary.Rule, ClassNameLocation(type, attribute, cancellationToken), parameterCountSeverity,
            additionalLocations: null, properties: null, Args(summary)));
        return diagnostics;
    }

    private static object?[] Args(ConfigProblem problem)
    {
        var args = new object?[problem.Args.Count];
        for (int i = 0; i < args.Length; i++) args[i] = problem.Args[i];
        return args;
    }

    /// <summary>An argument as written, on one line and at most 40 characters, for a message.</summary>
    private static string ExpressionText(ExpressionSyntax expression)
    {
        var builder = new System.Text.StringBuilder();
        foreach (char ch in expression.ToString())
            if (!char.IsWhiteSpace(ch)) builder.Append(ch);
            else if (builder.Length > 0 && builder[builder.Length - 1] != ' ') builder.Append(' ');
        string text = builder.ToString().Trim();
        return text.Length <= 40 ? text : text.Substring(0, 37) + "...";
    }

    /// <summary>The identifier of the declaration that carries the attribute (the class name a user sees).</summary>
    public static Location ClassNameLocation(INamedTypeSymbol type, AttributeData attribute, CancellationToken cancellationToken)
    {
        SyntaxNode? node = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken);
        for (; node is not null; node = node.Parent)
            if (node is BaseTypeDeclarationSyntax declaration) return declaration.Identifier.GetLocation();
        return TypeNameLocation(type, cancellationToken) ?? Location.None;
    }

    private static Location? TypeNameLocation(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
            if (reference.GetSyntax(cancellationToken) is BaseTypeDeclarationSyntax declaration && !IsGeneratedByH3(declaration.SyntaxTree, cancellationToken))
                return declaration.Identifier.GetLocation();
        return null;
    }

    /// <summary>Where the user declared <paramref name="member"/>; null when only H3's generated file declares it.</summary>
    private static Location? UserLocation(ISymbol member, CancellationToken cancellationToken)
    {
        foreach (Location location in member.Locations)
            if (location.IsInSource && !IsGeneratedByH3(location.SourceTree!, cancellationToken)) return location;
        return null;
    }

    /// <summary>
    /// Whether a tree is this generator's output. The analyzer sees the compilation with the generated files in it,
    /// where the generated members must not count as clashes. Generated trees sit under
    /// "H3.Generator/H3.Generator.H3ModelGenerator/" and start with the generator's header.
    /// </summary>
    public static bool IsGeneratedByH3(SyntaxTree tree, CancellationToken cancellationToken)
    {
        if (tree.FilePath.Replace('\\', '/').Contains("/H3.Generator.H3ModelGenerator/")) return true;
        SourceText text = tree.GetText(cancellationToken);
        string start = text.ToString(new TextSpan(0, System.Math.Min(text.Length, 64))).Replace("\r\n", "\n");
        return start.StartsWith("// <auto-generated/>\n// H3.Generator ", System.StringComparison.Ordinal)
            || start.StartsWith("// <auto-generated/>\n#error H3 ", System.StringComparison.Ordinal);
    }

    private static bool IsPartial(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
            if (reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration && declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                return true;
        return false;
    }
}
