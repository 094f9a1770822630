using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using H3.Generator.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace H3.CodeFixes;

/// <summary>
/// Fixes H3001 (model class not partial) and H3002 (containing type not partial) by adding the <c>partial</c>
/// modifier to the declaration whose name carries the squiggle, as the last modifier (C# requires <c>partial</c>
/// right before <c>class</c>/<c>struct</c>/<c>record</c>/<c>interface</c>).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakePartialCodeFix)), Shared]
public sealed class MakePartialCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        ImmutableArray.Create(DiagnosticIds.ModelNotPartial, DiagnosticIds.ContainingTypeNotPartial);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            SyntaxToken name = root.FindToken(diagnostic.Location.SourceSpan.Start);
            if (name.Parent is not TypeDeclarationSyntax declaration || declaration.Identifier != name) continue;
            if (declaration.Modifiers.Any(SyntaxKind.PartialKeyword)) continue;
            context.RegisterCodeFix(
                CodeAction.Create(
                    title: "Make '" + declaration.Identifier.ValueText + "' partial",
                    createChangedDocument: ct => AddPartialAsync(context.Document, declaration, ct),
                    equivalenceKey: nameof(MakePartialCodeFix)),
                diagnostic);
        }
    }

    private static async Task<Document> AddPartialAsync(Document document, TypeDeclarationSyntax declaration, CancellationToken cancellationToken)
    {
        SyntaxNode? root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null) return document;

        TypeDeclarationSyntax updated;
        if (declaration.Modifiers.Count == 0)
        {
            // "class M" → "partial class M": the keyword takes over the leading trivia (indentation, comments).
            SyntaxToken keyword = declaration.Keyword;
            SyntaxToken partial = SyntaxFactory.Token(keyword.LeadingTrivia, SyntaxKind.PartialKeyword, SyntaxFactory.TriviaList(SyntaxFactory.Space));
            updated = declaration
                .WithKeyword(keyword.WithLeadingTrivia(SyntaxFactory.TriviaList()))
                .WithModifiers(SyntaxFactory.TokenList(partial));
        }
        else
        {
            // "public sealed class M" → "public sealed partial class M".
            SyntaxToken partial = SyntaxFactory.Token(SyntaxFactory.TriviaList(), SyntaxKind.PartialKeyword, SyntaxFactory.TriviaList(SyntaxFactory.Space));
            updated = declaration.WithModifiers(declaration.Modifiers.Add(partial));
        }
        return document.WithSyntaxRoot(root.ReplaceNode(declaration, updated));
    }
}
