using System.Linq;

namespace H3.Generator.Tests;

/// <summary>
/// A model the generator cannot build is skipped silently: no file for it, no exception, no CS8785. Reporting is
/// the analyzer's job. Each source also holds one valid model, which must still be generated.
/// </summary>
public class InvalidConfigurationTests
{
    private const string ValidModel = """

        namespace Demo.Valid
        {
            [global::H3.H3Model(EmbedDim = 3, Hidden = 4, State = 2, ConvSize = 2, Layers = 1, WindowSize = 3)]
            public partial class StillGenerated { }
        }
        """;

    public static TheoryData<string, string> Cases => new()
    {
        { "EmbedDim missing", "[H3Model(Hidden = 4)] public partial class Bad { }" },
        { "EmbedDim 0", "[H3Model(EmbedDim = 0)] public partial class Bad { }" },
        { "State odd", "[H3Model(EmbedDim = 3, Hidden = 4, State = 3)] public partial class Bad { }" },
        { "ConvSize > WindowSize", "[H3Model(EmbedDim = 3, Hidden = 4, ConvSize = 5, WindowSize = 4)] public partial class Bad { }" },
        { "ConvSize negative", "[H3Model(EmbedDim = 3, Hidden = 4, ConvSize = -1)] public partial class Bad { }" },
        { "Dropout 1", "[H3Model(EmbedDim = 3, Hidden = 4, Dropout = 1)] public partial class Bad { }" },
        { "Dropout NaN", "[H3Model(EmbedDim = 3, Hidden = 4, Dropout = float.NaN)] public partial class Bad { }" },
        { "Layers 0", "[H3Model(EmbedDim = 3, Hidden = 4, Layers = 0)] public partial class Bad { }" },
        { "too many parameters", "[H3Model(EmbedDim = 3, Hidden = 65536, Layers = 256)] public partial class Bad { }" },
        { "non-partial class", "[H3Model(EmbedDim = 3, Hidden = 4)] public class Bad { }" },
        { "generic class", "[H3Model(EmbedDim = 3, Hidden = 4)] public partial class Bad<T> { }" },
        { "inside a generic type", "public partial class Outer<T> { [H3Model(EmbedDim = 3, Hidden = 4)] public partial class Bad { } }" },
        { "inside a non-partial type", "public class Outer { [H3Model(EmbedDim = 3, Hidden = 4)] public partial class Bad { } }" },
        { "static class", "[H3Model(EmbedDim = 3, Hidden = 4)] public static partial class Bad { }" },
        { "record", "[H3Model(EmbedDim = 3, Hidden = 4)] public partial record Bad { }" },
        { "non-constant argument", "[H3Model(EmbedDim = Bad.Size, Hidden = 4)] public partial class Bad { public static int Size = 3; }" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Invalid_model_is_skipped_without_errors(string name, string declaration)
    {
        string source = "using H3;\n\nnamespace Demo.Invalid\n{\n    " + declaration + "\n}\n" + ValidModel;
        // Run asserts that the generator neither threw nor reported anything: no CS8785, no diagnostics at all.
        GeneratorRunOutput run = GeneratorHarness.Run(source);

        string hint = Assert.Single(run.Sources).HintName;
        Assert.Equal("Demo.Valid.StillGenerated.g.cs", hint);
        Assert.DoesNotContain(run.Sources, s => s.SourceText.ToString().Contains(" Bad", System.StringComparison.Ordinal));

        Assert.False(string.IsNullOrEmpty(name));
    }
}
