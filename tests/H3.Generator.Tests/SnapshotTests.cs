namespace H3.Generator.Tests;

/// <summary>
/// The generated source, byte for byte, against reviewed golden files in Snapshots/. After an intended change to
/// the emitter, run the tests with H3_ACCEPT_SNAPSHOTS=1 and review the diff of Snapshots/ in the commit.
/// </summary>
public class SnapshotTests
{
    [Fact]
    public void Tiny_model_in_a_namespace() => Verify(TestModels.Tiny);

    [Fact]
    public void Seed_default_model_in_the_global_namespace() => Verify(TestModels.Default);

    [Fact]
    public void Internal_model_nested_in_partial_types() => Verify(TestModels.Nested);

    private static void Verify(ModelCase model)
    {
        GeneratorRunOutput run = GeneratorHarness.Run(model.Source);
        GeneratedSourceResultAssert.Single(run, model.HintName);
        Snapshot.Match(run.Text(model.HintName), model.HintName);
    }
}

internal static class GeneratedSourceResultAssert
{
    /// <summary>The run produced exactly one file, named <paramref name="hintName"/>.</summary>
    public static void Single(GeneratorRunOutput run, string hintName)
    {
        var source = Assert.Single(run.Sources);
        Assert.Equal(hintName, source.HintName);
        Assert.Equal(System.Text.Encoding.UTF8.WebName, source.SourceText.Encoding?.WebName);
    }
}
