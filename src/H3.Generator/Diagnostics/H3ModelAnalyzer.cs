using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace H3.Generator.Diagnostics;

/// <summary>
/// Reports every <c>[H3Model]</c> mistake where it was made: the declaration rules on the class (a symbol action,
/// so a clash in another partial part is reported in that file) and the argument rules on the attribute (a syntax
/// action on the declaration that carries it, which has the semantic model of its tree). Both run the same
/// <see cref="H3ModelRules"/> the generator uses to decide whether to generate. Never throws: a fault becomes H3099.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class H3ModelAnalyzer : DiagnosticAnalyzer
{
    /// <summary>MSBuild property (made visible by H3.props) that raises the size report H3020 to a warning.</summary>
    public const string ReportParameterCountProperty = "build_property.H3ReportParameterCount";

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        H3Descriptors.ModelNotPartial, H3Descriptors.ContainingTypeNotPartial, H3Descriptors.GenericModel,
        H3Descriptors.NestedInGenericType, H3Descriptors.StaticModel, H3Descriptors.RecordModel, H3Descriptors.FileLocalModel,
        H3Descriptors.MemberClash, H3Descriptors.ModelNameClash,
        H3Descriptors.EmbedDimMissing, H3Descriptors.ValueOutOfRange, H3Descriptors.StateOdd, H3Descriptors.ConvSizeExceedsWindow,
        H3Descriptors.DropoutOutOfRange, H3Descriptors.EmbedDropoutOutOfRange, H3Descriptors.ArgumentNotConstant, H3Descriptors.TooManyParameters,
        H3Descriptors.WorkspaceTooLarge, H3Descriptors.OverParameterBudget,
        H3Descriptors.ParameterCount, H3Descriptors.HiddenNotVectorMultiple, H3Descriptors.StateExceedsWindow,
        H3Descriptors.QuadraticWindow, H3Descriptors.InternalError);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            INamedTypeSymbol? attributeType = start.Compilation.GetTypeByMetadataName("H3.H3ModelAttribute");
            if (attributeType is null) return; // H3.Runtime is not referenced: nothing to check

            DiagnosticSeverity sizeSeverity =
                start.Options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue(ReportParameterCountProperty, out string? value)
                && string.Equals(value?.Trim(), "warning", StringComparison.OrdinalIgnoreCase)
                    ? DiagnosticSeverity.Warning
                    : DiagnosticSeverity.Info;

            start.RegisterSymbolAction(symbol => AnalyzeType(symbol, attributeType), SymbolKind.NamedType);
            start.RegisterSyntaxNodeAction(node => AnalyzeAttribute(node, attributeType, sizeSeverity), SyntaxKind.ClassDeclaration);
        });
    }

    private static void AnalyzeType(SymbolAnalysisContext context, INamedTypeSymbol attributeType)
    {
        if (context.Symbol is not INamedTypeSymbol type) return;
        ImmutableArray<AttributeData> attributes = H3ModelRules.H3Attributes(type, attributeType);
        if (attributes.Length != 1) return; // none, or a duplicate the compiler reports (CS0579)
        try
        {
            Report(context.ReportDiagnostic, H3ModelRules.CheckDeclaration(type, attributes[0], context.CancellationToken));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            context.ReportDiagnostic(Fault(type, attributes[0], ex, context.CancellationToken));
        }
    }

    private static void AnalyzeAttribute(SyntaxNodeAnalysisContext context, INamedTypeSymbol attributeType, DiagnosticSeverity sizeSeverity)
    {
        var declaration = (ClassDeclarationSyntax)context.Node;
        if (declaration.AttributeLists.Count == 0) return;
        if (context.SemanticModel.GetDeclaredSymbol(declaration, context.CancellationToken) is not INamedTypeSymbol type) return;
        ImmutableArray<AttributeData> attributes = H3ModelRules.H3Attributes(type, attributeType);
        if (attributes.Length != 1) return;
        AttributeData attribute = attributes[0];
        // Only the declaration that carries the attribute reports its arguments (a partial class has several).
        if (attribute.ApplicationSyntaxReference is not { } reference
            || reference.SyntaxTree != declaration.SyntaxTree || !declaration.Span.Contains(reference.Span))
            return;
        try
        {
            Report(context.ReportDiagnostic,
                H3ModelRules.CheckConfiguration(type, attribute, context.SemanticModel, sizeSeverity, context.CancellationToken, out _));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            context.ReportDiagnostic(Fault(type, attribute, ex, context.CancellationToken));
        }
    }

    private static void Report(Action<Diagnostic> report, List<Diagnostic> diagnostics)
    {
        foreach (Diagnostic diagnostic in diagnostics) report(diagnostic);
    }

    private static Diagnostic Fault(INamedTypeSymbol type, AttributeData attribute, Exception ex, System.Threading.CancellationToken cancellationToken)
    {
        Location location;
        try
        {
            location = H3ModelRules.ClassNameLocation(type, attribute, cancellationToken);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            location = Location.None;
        }
        return Diagnostic.Create(H3Descriptors.InternalError, location, "analyzer", type.Name, FaultText(ex));
    }

    /// <summary>"NullReferenceException: message" on one line.</summary>
    internal static string FaultText(Exception ex) =>
        ex.GetType().Name + ": " + ex.Message.Replace('\r', ' ').Replace('\n', ' ');
}
