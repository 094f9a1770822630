using System;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Emit;

namespace H3.Generator.Tests;

/// <summary>
/// The generated code plus the user's code compiles with no warning and no error (nullable on, default warning
/// level) against the .NET 10 reference assemblies and the real H3.Runtime, and the compiled model runs.
/// </summary>
public class CompileTests
{
    // One generator run per configuration, shared by the compile and the run test (the compilation caches its
    // binding, so emitting after GetDiagnostics costs little).
    private static readonly ConcurrentDictionary<string, Lazy<GeneratorRunOutput>> Runs = new();

    private static GeneratorRunOutput RunOf(ModelCase model) =>
        Runs.GetOrAdd(model.Name, _ => new Lazy<GeneratorRunOutput>(() => GeneratorHarness.Run(model.Source))).Value;

    [Theory]
    [MemberData(nameof(TestModels.CompileCaseNames), MemberType = typeof(TestModels))]
    public void Generated_code_compiles_without_diagnostics(string name)
    {
        ModelCase model = TestModels.ByName(name);

        // The user's code alone does not compile (it uses generated members): the generator is what fixes it.
        Assert.NotEmpty(GeneratorHarness.WarningsAndErrors(GeneratorHarness.CreateCompilation(model.Source)));

        GeneratorRunOutput run = RunOf(model);
        GeneratedSourceResultAssert.Single(run, model.HintName);
        ImmutableArray<Diagnostic> diagnostics = GeneratorHarness.WarningsAndErrors(run.Output);
        Assert.True(diagnostics.IsEmpty, $"{name}: {diagnostics.Length} diagnostics:\n{GeneratorHarness.Describe(diagnostics)}");
    }

    [Fact]
    public void Several_models_in_one_compilation_compile_together()
    {
        // Each model has its own file-local kernel class and hint name, so models never collide.
        ModelCase[] models = { TestModels.Tiny, TestModels.Nested, TestModels.GlobalNamespace, TestModels.ByName("K = 0") };
        GeneratorRunOutput run = GeneratorHarness.Run(models.Select(m => m.Source).ToArray());
        Assert.Equal(models.Select(m => m.HintName).OrderBy(n => n, StringComparer.Ordinal),
            run.Sources.Select(s => s.HintName).OrderBy(n => n, StringComparer.Ordinal));
        ImmutableArray<Diagnostic> diagnostics = GeneratorHarness.WarningsAndErrors(run.Output);
        Assert.True(diagnostics.IsEmpty, GeneratorHarness.Describe(diagnostics));
    }

    [Theory]
    [MemberData(nameof(TestModels.CompileCaseNames), MemberType = typeof(TestModels))]
    public void Compiled_model_runs_forward_through_IH3Model(string name)
    {
        ModelCase model = TestModels.ByName(name);
        GeneratorRunOutput run = RunOf(model);

        using var pe = new MemoryStream();
        EmitResult emit = run.Output.Emit(pe);
        Assert.True(emit.Success, GeneratorHarness.Describe(emit.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning)));
        pe.Position = 0;

        // A collectible context with no resolver of its own: H3.Runtime and System.Numerics.Tensors resolve to the
        // assemblies the default context already loaded, so H3.IH3Model is the very type this test knows.
        var context = new AssemblyLoadContext("h3-generated-" + name, isCollectible: true);
        try
        {
            Assembly assembly = context.LoadFromStream(pe);
            Type type = assembly.GetType(model.MetadataName, throwOnError: true)!;

            FieldInfo constant = type.GetField("ParameterCount", BindingFlags.Public | BindingFlags.Static)!;
            Assert.True(constant.IsLiteral);
            Assert.Equal(model.ExpectedParameterCount, Convert.ToInt64(constant.GetRawConstantValue()));

            var instance = Assert.IsAssignableFrom<IH3Model>(Activator.CreateInstance(type, new object[] { 7 }));
            Assert.Equal(model.ExpectedParameterCount, instance.Parameters.Length);
            Assert.Equal(model.ExpectedParameterCount, instance.Info.ParameterCount);
            Assert.Equal(new H3ModelInfo(model.E, model.H, model.N, model.K, model.L, model.T, H3Defaults.Dropout, (int)model.ExpectedParameterCount),
                instance.Info);
            Assert.Equal(model.ExpectedParameterCount, instance.Tensors.ToArray().Sum(t => (long)t.Length));

            const int batch = 2;
            var random = new Random(3);
            float[] input = new float[batch * model.T * model.E];
            for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 4 - 2);
            float[] output = new float[batch * model.H + 1];
            output[^1] = 1234.5f; // guard after the output
            instance.Forward(input, output.AsSpan(0, batch * model.H), batch);
            Assert.All(output, v => Assert.True(float.IsFinite(v), $"{name}: non-finite output {v}"));
            Assert.Equal(1234.5f, output[^1]);
        }
        finally
        {
            context.Unload();
        }
    }
}
