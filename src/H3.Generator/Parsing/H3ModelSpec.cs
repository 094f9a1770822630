namespace H3.Generator.Parsing;

/// <summary>
/// Everything the emitter needs to print one model, and nothing from Roslyn: no symbols, no syntax, no
/// locations. Value equality makes the pipeline step cacheable.
/// </summary>
/// <param name="Namespace">The model's namespace, or empty for the global namespace.</param>
/// <param name="ContainingTypes">Declarations of the enclosing types, outermost first (e.g. "partial class Outer").</param>
/// <param name="TypeName">The model class name.</param>
/// <param name="HintName">A file name unique in the compilation.</param>
/// <param name="Config">The attribute's numbers.</param>
internal sealed record H3ModelSpec(
    string Namespace,
    EquatableArray<string> ContainingTypes,
    string TypeName,
    string HintName,
    H3Config Config);
