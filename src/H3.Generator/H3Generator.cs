using System;
using System.Text;
using H3.Generator.Diagnostics;
using H3.Generator.Emitting;
using H3.Generator.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace H3.Generator;

/// <summary>
/// The H3 model generator. Pipeline: <c>[H3Model]</c> classes (ForAttributeWithMetadataName) → an equatable
/// <see cref="H3ModelSpec"/> per valid model (invalid ones are skipped; the analyzer reports them) → one
/// source file per model. No step carries Roslyn objects, so an unrelated edit regenerates nothing.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class H3ModelGenerator : IIncrementalGenerator
{
    /// <summary>Name of the tracked pipeline step that produces specs (used by the incremental tests).</summary>
    public const string SpecsStep = "Specs";

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<ParseOutcome> outcomes = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                H3ModelParser.AttributeName,
                predicate: static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
                transform: static (ctx, ct) => SafeParse(ctx, ct))
            .Where(static outcome => outcome is not null)
            .Select(static (outcome, _) => outcome!);

        IncrementalValuesProvider<H3ModelSpec> specs = outcomes
            .Where(static outcome => outcome.Spec is not null)
            .Select(static (outcome, _) => outcome.Spec!)
            .WithTrackingName(SpecsStep);

        IncrementalValuesProvider<GeneratorFault> faults = outcomes
            .Where(static outcome => outcome.Fault is not null)
            .Select(static (outcome, _) => outcome.Fault!);

        context.RegisterSourceOutput(specs, static (spc, spec) =>
        {
            try
            {
                string text;
                try
                {
                    FaultInjection.Check(FaultInjection.EmitFailsFor, spec.TypeName, "emitter");
                    text = ModelEmitter.Emit(spec);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The generator never throws: a fault becomes a visible build error in the generated file.
                    text = GeneratedHeader.Lines("internal failure, see the #error below.") + "#error H3 generator internal failure for " + spec.TypeName + ": "
                        + H3ModelAnalyzer.FaultText(ex) + "\n";
                }
                spc.AddSource(spec.HintName, SourceText.From(text, Encoding.UTF8));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                spc.ReportDiagnostic(Diagnostic.Create(H3Descriptors.InternalError, Location.None, "generator", spec.TypeName, H3ModelAnalyzer.FaultText(ex)));
            }
        });

        // A fault while reading a model (a bug, never the user's mistake) is an error diagnostic, not a silent skip.
        context.RegisterSourceOutput(faults, static (spc, fault) =>
            spc.ReportDiagnostic(Diagnostic.Create(H3Descriptors.InternalError, fault.ToLocation(), "generator", fault.TypeName, fault.Message)));
    }

    private static ParseOutcome? SafeParse(GeneratorAttributeSyntaxContext context, System.Threading.CancellationToken ct)
    {
        try
        {
            H3ModelSpec? spec = H3ModelParser.Parse(context, ct);
            return spec is null ? null : new ParseOutcome(spec, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new ParseOutcome(null, GeneratorFault.From(context, ex));
        }
    }
}

/// <summary>What the parse step made of one [H3Model] class: a spec to emit, or a fault to report.</summary>
internal sealed record ParseOutcome(H3ModelSpec? Spec, GeneratorFault? Fault);

/// <summary>
/// A fault while reading a model, as plain values (a path and spans rather than a Location, which would keep the
/// syntax tree alive in the pipeline).
/// </summary>
internal sealed record GeneratorFault(string TypeName, string Message, string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static GeneratorFault From(GeneratorAttributeSyntaxContext context, Exception ex)
    {
        string name = "?";
        string path = "";
        TextSpan span = default;
        LinePositionSpan lines = default;
        try
        {
            name = context.TargetSymbol.Name;
            if (context.TargetNode is Microsoft.CodeAnalysis.CSharp.Syntax.BaseTypeDeclarationSyntax declaration)
            {
                Location location = declaration.Identifier.GetLocation();
                path = location.SourceTree?.FilePath ?? "";
                span = location.SourceSpan;
                lines = location.GetLineSpan().Span;
            }
        }
        catch (Exception inner) when (inner is not OperationCanceledException)
        {
            // Keep what was found; the message still says what failed.
        }
        return new GeneratorFault(name, H3ModelAnalyzer.FaultText(ex), path, span, lines);
    }

    public Location ToLocation() => FilePath.Length == 0 ? Microsoft.CodeAnalysis.Location.None : Microsoft.CodeAnalysis.Location.Create(FilePath, Span, LineSpan);
}
