namespace H3.Generator.Diagnostics;

/// <summary>
/// The stable IDs of every H3 diagnostic (docs/diagnostics.md). An ID is never renumbered or reused. This file
/// is also compiled into H3.CodeFixes, which must not reference the generator assembly.
/// </summary>
internal static class DiagnosticIds
{
    // H3.Usage: what the declaration of the model class must look like.
    public const string ModelNotPartial = "H3001";
    public const string ContainingTypeNotPartial = "H3002";
    public const string GenericModel = "H3003";
    public const string NestedInGenericType = "H3004";
    public const string StaticModel = "H3005";
    public const string RecordModel = "H3006";
    public const string FileLocalModel = "H3007";
    public const string MemberClash = "H3008";
    public const string ModelNameClash = "H3009";

    // H3.Config: the attribute's numbers.
    public const string EmbedDimMissing = "H3010";
    public const string ValueOutOfRange = "H3011";
    public const string StateOdd = "H3012";
    public const string ConvSizeExceedsWindow = "H3013";
    public const string DropoutOutOfRange = "H3014";
    public const string ArgumentNotConstant = "H3015";
    public const string TooManyParameters = "H3016";
    public const string WorkspaceTooLarge = "H3017";
    public const string OverParameterBudget = "H3018";
    public const string EmbedDropoutOutOfRange = "H3019";

    // H3.Performance: legal configurations, reported as Info.
    public const string ParameterCount = "H3020";
    public const string HiddenNotVectorMultiple = "H3021";
    public const string StateExceedsWindow = "H3022";
    public const string QuadraticWindow = "H3023";

    // A fault inside the analyzer or the generator (a bug in H3.Generator, never in user code).
    public const string InternalError = "H3099";
}
