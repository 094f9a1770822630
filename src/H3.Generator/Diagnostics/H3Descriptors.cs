using Microsoft.CodeAnalysis;

namespace H3.Generator.Diagnostics;

/// <summary>
/// Every diagnostic H3 reports: ID, title, message, category, severity and help link. Each is documented, with a
/// bad example and the fix, in docs/diagnostics.md, and tracked in AnalyzerReleases.*.md. Message arguments are
/// always pre-formatted strings (invariant culture), so no message depends on the build machine's locale.
/// </summary>
internal static class H3Descriptors
{
    public const string UsageCategory = "H3.Usage", ConfigCategory = "H3.Config", PerformanceCategory = "H3.Performance";

    /// <summary>docs/diagnostics.md in the repository; each ID has an anchor of its own ("#h3001").</summary>
    public const string HelpBase = "https://github.com/h3-generator/h3/blob/main/docs/diagnostics.md#";

    private static DiagnosticDescriptor Rule(string id, string category, DiagnosticSeverity severity, string title, string message) =>
        new(id, title, message, category, severity, isEnabledByDefault: true, helpLinkUri: HelpBase + id.ToLowerInvariant());

    private static DiagnosticDescriptor Error(string id, string category, string title, string message) =>
        Rule(id, category, DiagnosticSeverity.Error, title, message);

    // ---- H3.Usage: the declaration of the model class -------------------------------------------------------

    public static readonly DiagnosticDescriptor ModelNotPartial = Error(DiagnosticIds.ModelNotPartial, UsageCategory,
        "H3 model class must be partial",
        "The H3 model class '{0}' must be declared partial so that the generator can add its members; add the 'partial' modifier");

    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Error(DiagnosticIds.ContainingTypeNotPartial, UsageCategory,
        "Type that contains an H3 model must be partial",
        "'{0}' must be declared partial because it contains the H3 model '{1}'; add the 'partial' modifier");

    public static readonly DiagnosticDescriptor GenericModel = Error(DiagnosticIds.GenericModel, UsageCategory,
        "H3 model class cannot be generic",
        "The H3 model class '{0}' cannot be generic: the generator specialises it to constant shapes; remove the type parameters");

    public static readonly DiagnosticDescriptor NestedInGenericType = Error(DiagnosticIds.NestedInGenericType, UsageCategory,
        "H3 model cannot be nested in a generic type",
        "The H3 model '{0}' cannot be nested in the generic type '{1}'; declare it outside the generic type");

    public static readonly DiagnosticDescriptor StaticModel = Error(DiagnosticIds.StaticModel, UsageCategory,
        "H3 model class cannot be static",
        "The H3 model class '{0}' cannot be static: a model is an instance (new {0}(seed)); remove the 'static' modifier");

    public static readonly DiagnosticDescriptor RecordModel = Error(DiagnosticIds.RecordModel, UsageCategory,
        "H3 model cannot be a record",
        "The H3 model '{0}' cannot be a record: the generator adds the members of a class; declare it as 'partial class {0}'");

    public static readonly DiagnosticDescriptor FileLocalModel = Error(DiagnosticIds.FileLocalModel, UsageCategory,
        "H3 model cannot be file-local",
        "'{0}' cannot be file-local: the generated part of the H3 model '{1}' lives in another file; remove the 'file' modifier");

    public static readonly DiagnosticDescriptor MemberClash = Error(DiagnosticIds.MemberClash, UsageCategory,
        "Member clashes with a member the H3 generator adds",
        "'{0}' already declares '{1}', which the H3 generator adds ({2}); rename or remove it");

    public static readonly DiagnosticDescriptor ModelNameClash = Error(DiagnosticIds.ModelNameClash, UsageCategory,
        "H3 model class has the name of a generated member",
        "The H3 model class cannot be named '{0}': the generator adds a member named '{0}', and a member cannot have the name of its class; rename the class");

    // ---- H3.Config: the attribute's numbers ---------------------------------------------------------------

    public static readonly DiagnosticDescriptor EmbedDimMissing = Error(DiagnosticIds.EmbedDimMissing, ConfigCategory,
        "EmbedDim is required",
        "[H3Model] on '{0}' does not set EmbedDim, the number of values per input frame; add EmbedDim = n with 1 <= n <= 65536");

    public static readonly DiagnosticDescriptor ValueOutOfRange = Error(DiagnosticIds.ValueOutOfRange, ConfigCategory,
        "H3 model property out of range",
        "{0} = {1} is out of range; {0} must be between {2} and {3}{4}");

    public static readonly DiagnosticDescriptor StateOdd = Error(DiagnosticIds.StateOdd, ConfigCategory,
        "State must be even",
        "State = {0} is odd; State must be even (N shift-SSM taps and N/2 complex diagonal modes): use {1}");

    public static readonly DiagnosticDescriptor ConvSizeExceedsWindow = Error(DiagnosticIds.ConvSizeExceedsWindow, ConfigCategory,
        "ConvSize exceeds WindowSize",
        "ConvSize = {0} exceeds WindowSize = {1}; ConvSize must be between 0 (no short convolution) and WindowSize");

    public static readonly DiagnosticDescriptor DropoutOutOfRange = Error(DiagnosticIds.DropoutOutOfRange, ConfigCategory,
        "Dropout must be in [0, 1)",
        "Dropout = {0} is not a probability in [0, 1); Dropout must satisfy 0 <= Dropout < 1 (0 disables dropout)");

    public static readonly DiagnosticDescriptor EmbedDropoutOutOfRange = Error(DiagnosticIds.EmbedDropoutOutOfRange, ConfigCategory,
        "EmbedDropout must be in [0, 1)",
        "EmbedDropout = {0} is not a probability in [0, 1); EmbedDropout must satisfy 0 <= EmbedDropout < 1 (0 disables it)");

    public static readonly DiagnosticDescriptor ArgumentNotConstant = Error(DiagnosticIds.ArgumentNotConstant, ConfigCategory,
        "H3 model argument must be a constant of the property's type",
        "{0} = {1} is not a constant {2}: the generator reads the attribute at compile time, so {0} needs a constant of type {2} (for example {0} = {3})");

    public static readonly DiagnosticDescriptor TooManyParameters = Error(DiagnosticIds.TooManyParameters, ConfigCategory,
        "H3 model has too many parameters for one float array",
        "'{0}' has {1} parameters, more than one float array can hold ({2}); reduce Hidden, Layers or State");

    public static readonly DiagnosticDescriptor WorkspaceTooLarge = Error(DiagnosticIds.WorkspaceTooLarge, ConfigCategory,
        "H3 model's training workspace is too large for one window",
        "'{0}' needs {1} floats of training workspace for a single {2}-frame window, more than one float array can hold ({3}), so CreateWorkspace would always fail; reduce WindowSize, Hidden or Layers");

    public static readonly DiagnosticDescriptor OverParameterBudget = Error(DiagnosticIds.OverParameterBudget, ConfigCategory,
        "H3 model is over its parameter budget",
        "'{0}' has {1} parameters, {2} over its budget MaxParameters = {3}; reduce Hidden, Layers or State, or raise MaxParameters");

    // ---- H3.Performance (Info; never blocks a build) ------------------------------------------------------

    /// <summary>Info by default; the MSBuild property H3ReportParameterCount=warning raises it to a warning.</summary>
    public static readonly DiagnosticDescriptor ParameterCount = Rule(DiagnosticIds.ParameterCount, PerformanceCategory, DiagnosticSeverity.Info,
        "H3 model size",
        "{0}: {1} parameters ({2} float32), {3} per {4}-frame window");

    public static readonly DiagnosticDescriptor HiddenNotVectorMultiple = Rule(DiagnosticIds.HiddenNotVectorMultiple, PerformanceCategory, DiagnosticSeverity.Info,
        "Hidden is not a multiple of the vector width",
        "Hidden = {0} is not a multiple of 8 (the Vector256 width): every H-wide row ends in a partial vector ({0} = {1}·8 + {2}), so {3} of every {4} lanes are masked or recomputed; {5} would vectorise exactly");

    public static readonly DiagnosticDescriptor StateExceedsWindow = Rule(DiagnosticIds.StateExceedsWindow, PerformanceCategory, DiagnosticSeverity.Info,
        "State is larger than WindowSize",
        "State = {0} exceeds WindowSize = {1}: the shift SSM's {2} an output, and at initialisation (shift.B = e1) the matching {3} values per layer of shift.C get zero gradient; State = {5} avoids this, but State also sets the diagonal SSM's N/2 = {4} modes");

    public static readonly DiagnosticDescriptor QuadraticWindow = Rule(DiagnosticIds.QuadraticWindow, PerformanceCategory, DiagnosticSeverity.Info,
        "WindowSize is much larger than State",
        "WindowSize = {0} is more than 8·State = {1}: the diagonal SSM runs as a causal convolution, O(T²) per window, with (T+1)/2 = {2} multiply-adds per output and channel where the N/2-mode recurrence needs about 2·N = {3} ({4}× as many); it takes {5} of the forward FLOPs");

    // ---- Internal faults ------------------------------------------------------------------------------------

    public static readonly DiagnosticDescriptor InternalError = Error(DiagnosticIds.InternalError, UsageCategory,
        "Internal error in H3.Generator",
        "Internal error in the H3 {0} while processing '{1}': {2}; this is a bug in H3.Generator, please report it");
}
