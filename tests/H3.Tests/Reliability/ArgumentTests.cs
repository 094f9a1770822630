using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;

namespace H3.Tests.Reliability;

/// <summary>
/// Issue 7, part 3: bad arguments. For every public method of a generated model and every public runtime method that
/// takes a span or a batch size, each span argument of the wrong length and each batch ≤ 0 throws an
/// <see cref="ArgumentException"/> whose <see cref="ArgumentException.ParamName"/> is the argument and whose message
/// holds the expected and the actual length, and nothing the method could write (outputs, parameters, gradients,
/// stream state) has changed. A reflection test fails when a public method appears without a case here.
/// </summary>
public sealed class ArgumentTests
{
    private const int E = FuzzModel.EmbedDim, H = FuzzModel.OutputSize, T = FuzzModel.WindowSize, P = FuzzModel.ParameterCount;
    private const float Guard = 1234.5f;

    /// <summary>One bad call: the method's signature key, the argument at fault, the call, text its message must hold,
    /// and everything the call could write (compared bit for bit before and after).</summary>
    public sealed record BadCall(string Method, string Param, Action Call, string[] Mentions, Func<byte[]> Writable)
    {
        public override string ToString() => $"{Method} [{Param}: {string.Join(", ", Mentions)}]";
    }

    private static float[] Guarded(int length) => Enumerable.Repeat(Guard, length).ToArray();

    private static byte[] Bits(params float[][] arrays) => arrays.SelectMany(a => Reliable.Bits(a)).ToArray();

    // ---------------------------------------------------------------------------------------------------
    // The generated model.

    /// <summary>Generated members whose arguments cannot be wrong (nothing to check).</summary>
    private static readonly string[] NoArguments = ["ZeroGradients()"];

    public static IEnumerable<BadCall> GeneratedCases()
    {
        var m = new FuzzModel(seed: 3);
        var other = new FuzzModel(seed: 4);
        Func<byte[]> model = () => Bits(m.Parameters.ToArray(), m.Gradients.ToArray());
        const int batch = 2;
        float[] input = Guarded(batch * T * E), output = Guarded(batch * H), outputSeq = Guarded(batch * T * H);
        byte[] Outputs() => Bits(output, outputSeq, m.Parameters.ToArray(), m.Gradients.ToArray());

        // Inference Forward.
        const string fwd = "Forward(ReadOnlySpan<Single>, Span<Single>, Int32)";
        foreach (int b in new[] { 0, -1, int.MinValue })
            yield return new(fwd, "batch", () => m.Forward(input, output, b), [b.ToString()], Outputs);
        foreach (int n in new[] { batch * T * E - 1, batch * T * E + 1, 0 })
            yield return new(fwd, "input", () => m.Forward(Guarded(n), output, batch), [$"{batch * T * E}", $"{n}"], Outputs);
        foreach (int n in new[] { batch * H - 1, batch * H + 1, 0 })
            yield return new(fwd, "output", () => m.Forward(input, Guarded(n), batch), [$"{batch * H}", $"{n}"], () => Bits(m.Parameters.ToArray()));
        // A batch that makes the input length overflow an int is still "the wrong length", never a crash.
        yield return new(fwd, "input", () => m.Forward(input, output, int.MaxValue), [$"{(long)int.MaxValue * T * E}", $"{input.Length}"], Outputs);

        // CreateWorkspace and CreateStream: the batch.
        foreach (int b in new[] { 0, -3 })
        {
            yield return new("CreateWorkspace(Int32)", "maxBatch", () => m.CreateWorkspace(b), [b.ToString()], model);
            yield return new("CreateStream(Int32)", "batch", () => m.CreateStream(b), [b.ToString()], model);
        }
        yield return new("CreateWorkspace(Int32)", "maxBatch", () => m.CreateWorkspace(int.MaxValue), [int.MaxValue.ToString()], model);
        yield return new("CreateStream(Int32)", "batch", () => m.CreateStream(int.MaxValue), [int.MaxValue.ToString()], model);
        yield return new("CreateStream(Int32, Int32)", "batch", () => m.CreateStream(0, 2), ["0"], model);
        foreach (int t in new[] { 0, 3, -1 })
            yield return new("CreateStream(Int32, Int32)", "threads", () => m.CreateStream(1, t), [t.ToString()], model);

        // Training Forward and ForwardSequence.
        H3Workspace ws = m.CreateWorkspace(maxBatch: batch);
        H3Workspace foreign = other.CreateWorkspace(maxBatch: batch);
        foreach (bool sequence in new[] { false, true })
        {
            string name = sequence ? "ForwardSequence" : "Forward";
            string key = $"{name}(ReadOnlySpan<Single>, Span<Single>, Int32, H3Workspace, Boolean)";
            float[] outp = sequence ? outputSeq : output;
            int outLength = sequence ? batch * T * H : batch * H;
            void Run(ReadOnlySpan<float> i, Span<float> o, int b, H3Workspace? w)
            {
                if (sequence) m.ForwardSequence(i, o, b, w!);
                else m.Forward(i, o, b, w!);
            }
            foreach (int b in new[] { 0, -1 })
                yield return new(key, "batch", () => Run(input, outp, b, ws), [b.ToString()], Outputs);
            yield return new(key, "batch", () => Run(Guarded(3 * T * E), Guarded(outLength / batch * 3), 3, ws), ["3", $"maxBatch {batch}"], Outputs);
            yield return new(key, "input", () => Run(Guarded(batch * T * E - 1), outp, batch, ws), [$"{batch * T * E}", $"{batch * T * E - 1}"], Outputs);
            yield return new(key, "output", () => Run(input, Guarded(outLength + 1), batch, ws), [$"{outLength}", $"{outLength + 1}"], Outputs);
            yield return new(key, "workspace", () => Run(input, outp, batch, null), ["workspace"], Outputs);
            yield return new(key, "workspace", () => Run(input, outp, batch, foreign), ["CreateWorkspace"], Outputs);
        }

        // Backward and BackwardSequence (after a training forward of batch 2 on the workspace).
        foreach (bool sequence in new[] { false, true })
        {
            string name = sequence ? "BackwardSequence" : "Backward";
            int outLength = sequence ? batch * T * H : batch * H;
            H3Workspace w = m.CreateWorkspace(maxBatch: 3);
            if (sequence) m.ForwardSequence(input, Guarded(outLength), batch, w);
            else m.Forward(input, Guarded(outLength), batch, w);
            float[] inputGradient = Guarded(batch * T * E), gradients = Guarded(P);
            byte[] Written() => Bits(inputGradient, gradients, m.Parameters.ToArray(), m.Gradients.ToArray());
            void Run(ReadOnlySpan<float> dOut, Span<float> dIn, Span<float> g, bool own, H3Workspace? workspace)
            {
                if (own && sequence) m.BackwardSequence(dOut, workspace!, dIn);
                else if (own) m.Backward(dOut, workspace!, dIn);
                else if (sequence) m.BackwardSequence(dOut, workspace!, dIn, g);
                else m.Backward(dOut, workspace!, dIn, g);
            }
            foreach (bool own in new[] { true, false })
            {
                string key = own ? $"{name}(ReadOnlySpan<Single>, H3Workspace, Span<Single>)" : $"{name}(ReadOnlySpan<Single>, H3Workspace, Span<Single>, Span<Single>)";
                yield return new(key, "outputGradient", () => Run(Guarded(outLength - 1), inputGradient, gradients, own, w), [$"{outLength}", $"{outLength - 1}"], Written);
                yield return new(key, "outputGradient", () => Run(Guarded(outLength + H), default, gradients, own, w), [$"{outLength}", $"{outLength + H}"], Written);
                yield return new(key, "inputGradient", () => Run(Guarded(outLength), Guarded(batch * T * E + 1), gradients, own, w), [$"{batch * T * E}", $"{batch * T * E + 1}"], Written);
                yield return new(key, "workspace", () => Run(Guarded(outLength), inputGradient, gradients, own, null), ["workspace"], Written);
                yield return new(key, "workspace", () => Run(Guarded(outLength), inputGradient, gradients, own, foreign), ["CreateWorkspace"], Written);
                if (!own)
                {
                    yield return new(key, "gradients", () => Run(Guarded(outLength), inputGradient, Guarded(P - 1), own, w), [$"{P}", $"{P - 1}"], Written);
                    yield return new(key, "gradients", () => Run(Guarded(outLength), inputGradient, default, own, w), [$"{P}", "holds 0"], Written);
                }
            }
        }

        // Step.
        const string step = "Step(ReadOnlySpan<Single>, Span<Single>, H3StreamState)";
        H3StreamState state = m.CreateStream(batch: 2);
        m.Step(Guarded(2 * E), Guarded(2 * H), state); // a state with history: a partial step would change it
        H3StreamState otherState = other.CreateStream(batch: 2);
        float[] frames = Guarded(2 * E), stepOut = Guarded(2 * H);
        byte[] Stepped() => Bits(stepOut, state.Memory.ToArray(), m.Parameters.ToArray(), [state.FramesSeen]);
        yield return new(step, "frames", () => m.Step(Guarded(2 * E - 1), stepOut, state), [$"{2 * E}", $"{2 * E - 1}"], Stepped);
        yield return new(step, "frames", () => m.Step(Guarded(E), stepOut, state), [$"{2 * E}", $"{E}"], Stepped);
        yield return new(step, "output", () => m.Step(frames, Guarded(2 * H + 1), state), [$"{2 * H}", $"{2 * H + 1}"], Stepped);
        yield return new(step, "output", () => m.Step(frames, Guarded(0), state), [$"{2 * H}", "holds 0"], Stepped);
        yield return new(step, "state", () => m.Step(frames, stepOut, null!), ["state"], Stepped);
        yield return new(step, "state", () => m.Step(frames, stepOut, otherState), ["CreateStream"], Stepped);

        // Weights: the path or stream.
        yield return new("SaveWeights(String)", "path", () => m.SaveWeights(""), ["path"], model);
        yield return new("SaveWeights(String)", "path", () => m.SaveWeights(null!), ["path"], model);
        yield return new("LoadWeights(String)", "path", () => m.LoadWeights(""), ["path"], model);
        yield return new("LoadWeights(String, Boolean)", "path", () => m.LoadWeights((string)null!, allowNonFinite: true), ["path"], model);
        yield return new("LoadWeights(Stream, Boolean)", "stream", () => m.LoadWeights((Stream)null!), ["stream"], model);
        yield return new("LoadWeights(Stream, Boolean)", "stream", () => m.LoadWeights(new UnreadableStream()), ["read"], model);
    }

    // ---------------------------------------------------------------------------------------------------
    // The runtime.

    /// <summary>Runtime methods that accept a span of any length (they fill it whole): no wrong length exists.</summary>
    private static readonly string[] AnyLength =
    [
        "H3Init.Normal(Span<Single>, Double, Int64, Int32)",
        "H3Init.Uniform(Span<Single>, Double, Double, Int64, Int32)",
        "H3Init.LogUniform(Span<Single>, Double, Double, Int64, Int32)",
        "H3Init.Constant(Span<Single>, Single)",
    ];

    public static IEnumerable<BadCall> RuntimeCases()
    {
        // AdamW.
        var model = new FuzzModel(seed: 5);
        var adam = new AdamW(model);
        float[] p = model.Parameters.ToArray(), g = Reliable.Random(P, 1);
        byte[] Adam() => Bits(p, g, [adam.StepCount, adam.SkippedSteps]);
        foreach (bool withLoss in new[] { false, true })
        {
            string key = withLoss ? "AdamW.Step(Span<Single>, ReadOnlySpan<Single>, Single, Single)" : "AdamW.Step(Span<Single>, ReadOnlySpan<Single>, Single)";
            AdamWStep Run(Span<float> parameters, ReadOnlySpan<float> gradients) =>
                withLoss ? adam.Step(parameters, gradients, 0.01f, float.NaN) : adam.Step(parameters, gradients, 0.01f);
            yield return new(key, "parameters", () => Run(Guarded(P - 1), g), [$"{P}", $"{P - 1}"], Adam);
            yield return new(key, "gradients", () => Run(p, Guarded(P + 1)), [$"{P}", $"{P + 1}"], Adam);
        }
        yield return new("AdamW..ctor(ReadOnlySpan<H3Tensor>, AdamWOptions)", "layout", () => new AdamW(ReadOnlySpan<H3Tensor>.Empty), ["no tensors"], Adam);

        // Losses.
        float[] logits = Reliable.Random(6, 2), gradient = Guarded(6);
        int[] targets = [0, 2];
        byte[] Loss() => Bits(logits, gradient);
        const string xent = "Losses.SoftmaxCrossEntropy(ReadOnlySpan<Single>, Int32, ReadOnlySpan<Int32>, Span<Single>)";
        yield return new(xent, "logits", () => Losses.SoftmaxCrossEntropy(logits.AsSpan(0, 5), 3, targets, gradient), ["6", "5"], Loss);
        yield return new(xent, "gradient", () => Losses.SoftmaxCrossEntropy(logits, 3, targets, gradient.AsSpan(0, 5)), ["6", "5"], Loss);
        yield return new(xent, "classes", () => Losses.SoftmaxCrossEntropy(logits, 0, targets, gradient), ["0"], Loss);
        yield return new(xent, "targets", () => Losses.SoftmaxCrossEntropy(logits, 3, [0, 3], gradient), ["3"], Loss);
        const string correct = "Losses.CountCorrect(ReadOnlySpan<Single>, Int32, ReadOnlySpan<Int32>)";
        yield return new(correct, "logits", () => Losses.CountCorrect(logits, 4, targets), ["8", "6"], Loss);
        yield return new(correct, "classes", () => Losses.CountCorrect(logits, -1, targets), ["-1"], Loss);
        const string mse = "Losses.MeanSquaredError(ReadOnlySpan<Single>, ReadOnlySpan<Single>, Span<Single>)";
        yield return new(mse, "target", () => Losses.MeanSquaredError(logits, logits.AsSpan(1), gradient), ["6", "5"], Loss);
        yield return new(mse, "gradient", () => Losses.MeanSquaredError(logits, logits, Guarded(7)), ["6", "7"], Loss);

        // Linear.
        var linear = new Linear(inputs: 3, outputs: 2, seed: 1);
        float[] x = Reliable.Random(6, 3), y = Guarded(4), dy = Reliable.Random(4, 4), dx = Guarded(6), lg = Guarded(linear.Parameters.Length);
        byte[] Lin() => Bits(y, dx, lg, linear.Parameters.ToArray(), linear.Gradients.ToArray());
        const string lf = "Linear.Forward(ReadOnlySpan<Single>, Span<Single>, Int32)";
        yield return new(lf, "rows", () => linear.Forward(x, y, 0), ["0"], Lin);
        yield return new(lf, "input", () => linear.Forward(x.AsSpan(1), y, 2), ["6", "5"], Lin);
        yield return new(lf, "output", () => linear.Forward(x, Guarded(5), 2), ["4", "5"], Lin);
        foreach (bool own in new[] { true, false })
        {
            string key = own ? "Linear.Backward(ReadOnlySpan<Single>, ReadOnlySpan<Single>, Span<Single>, Int32)"
                             : "Linear.Backward(ReadOnlySpan<Single>, ReadOnlySpan<Single>, Span<Single>, Int32, Span<Single>)";
            void Run(ReadOnlySpan<float> i, ReadOnlySpan<float> o, Span<float> di, int rows, Span<float> grads)
            {
                if (own) linear.Backward(i, o, di, rows);
                else linear.Backward(i, o, di, rows, grads);
            }
            yield return new(key, "rows", () => Run(x, dy, dx, -2, lg), ["-2"], Lin);
            yield return new(key, "input", () => Run(x.AsSpan(0, 3), dy, dx, 2, lg), ["6", "3"], Lin);
            yield return new(key, "outputGradient", () => Run(x, dy.AsSpan(0, 3), dx, 2, lg), ["4", "3"], Lin);
            yield return new(key, "inputGradient", () => Run(x, dy, Guarded(7), 2, lg), ["6", "7"], Lin);
            if (!own) yield return new(key, "gradients", () => Run(x, dy, dx, 2, Guarded(lg.Length - 1)), [$"{lg.Length}", $"{lg.Length - 1}"], Lin);
        }

        // H3Init (used by generated constructors).
        float[] init = Guarded(6);
        byte[] Init() => Bits(init);
        yield return new("H3Init.FirstBasisVector(Span<Single>, Int32, Int32)", "destination", () => H3Init.FirstBasisVector(init, 2, 4), ["8", "6"], Init);
        yield return new("H3Init.FirstBasisVector(Span<Single>, Int32, Int32)", "rows", () => H3Init.FirstBasisVector(init, -2, -3), ["-2"], Init);
        yield return new("H3Init.LinearImaginary(Span<Single>, Int32, Int32)", "destination", () => H3Init.LinearImaginary(init, 7, 1), ["7", "6"], Init);
        yield return new("H3Init.LinearImaginary(Span<Single>, Int32, Int32)", "modes", () => H3Init.LinearImaginary(init, 1, -6), ["-6"], Init);
        yield return new("H3Init.ComplexOne(Span<Single>)", "destination", () => H3Init.ComplexOne(init.AsSpan(0, 5)), ["even", "5"], Init);

        // H3Weights: the parameters span against the layout.
        H3Tensor[] layout = FuzzModel.Tensors.ToArray();
        float[] weights = Guarded(P + 1);
        byte[] Weights() => Bits(weights);
        string path = Path.Combine(Path.GetTempPath(), "h3-args-never-written.safetensors");
        yield return new("H3Weights.Save(String, ReadOnlySpan<H3Tensor>, ReadOnlySpan<Single>, String)", "parameters", () => H3Weights.Save(path, layout, weights, "m"), [$"{P}", $"{P + 1}"], Weights);
        yield return new("H3Weights.Load(String, ReadOnlySpan<H3Tensor>, Span<Single>)", "parameters", () => H3Weights.Load(path, layout, weights), [$"{P}", $"{P + 1}"], Weights);
        yield return new("H3Weights.Load(String, ReadOnlySpan<H3Tensor>, Span<Single>, Boolean)", "parameters", () => H3Weights.Load(path, layout, weights.AsSpan(2), true), [$"{P}", $"{P - 1}"], Weights);
        yield return new("H3Weights.Load(Stream, ReadOnlySpan<H3Tensor>, Span<Single>, Boolean)", "parameters", () => H3Weights.Load(new MemoryStream(), layout, weights), [$"{P}", $"{P + 1}"], Weights);
        SafetensorsFile file = Safetensors.Parse(Safetensors.Serialize([new SafetensorsTensor("a", [2, 3], Reliable.Random(6, 9))]));
        yield return new("H3Weights.Load(SafetensorsFile, ReadOnlySpan<H3Tensor>, Span<Single>)", "parameters", () => H3Weights.Load(file, layout, weights), [$"{P}", $"{P + 1}"], Weights);
        yield return new("H3Weights.Load(SafetensorsFile, ReadOnlySpan<H3Tensor>, Span<Single>, Boolean)", "parameters", () => H3Weights.Load(file, layout, weights, false), [$"{P}", $"{P + 1}"], Weights);
        yield return new("SafetensorsFile.ReadF32(SafetensorsEntry, Span<Single>)", "destination", () => file.ReadF32(file.GetEntry("a"), weights.AsSpan(0, 5)), ["5", "6"], Weights);

        // Memory objects made by generated code, and the shard splitter.
        var owner = new object();
        yield return new("H3Workspace..ctor(Object, Int32, Int32)", "maxBatch", () => new H3Workspace(owner, 0, 10), ["0"], Weights);
        yield return new("H3StreamState..ctor(Object, Int32, Int32, Int32)", "batch", () => new H3StreamState(owner, -1, 10, 0), ["-1"], Weights);
        var workspace = new H3Workspace(owner, 2, 10);
        yield return new("H3Workspace.BeginForward(Object, Int32, Boolean)", "batch", () => workspace.BeginForward(owner, 3, false), ["3", "2"], Weights);
        yield return new("H3Workspace.BeginForward(Object, Int32, Boolean)", "batch", () => workspace.BeginForward(owner, 0, false), ["0"], Weights);
        using var shards = new H3ShardRunner(2);
        yield return new("H3ShardRunner.Split(Int32, Int32)", "batch", () => shards.Split(-1, 0), ["-1"], Weights);
        yield return new("H3Args.CheckBatch(Int32, String)", "batch", () => H3Args.CheckBatch(0), ["0"], Weights);
        yield return new("H3Args.CheckScratch(Int64, Int32, String)", "batch", () => H3Args.CheckScratch(long.MaxValue, 9), ["9"], Weights);
    }

    public static IEnumerable<object[]> Generated() => GeneratedCases().Select(c => new object[] { c });

    public static IEnumerable<object[]> Runtime() => RuntimeCases().Select(c => new object[] { c });

    [Theory]
    [MemberData(nameof(Generated))]
    [MemberData(nameof(Runtime))]
    public void Bad_argument_throws_ArgumentException_naming_it_and_writes_nothing(BadCall c)
    {
        byte[] before = c.Writable();
        ArgumentException ex = Assert.ThrowsAny<ArgumentException>(c.Call);
        Assert.Equal(c.Param, ex.ParamName);
        foreach (string mention in c.Mentions) Assert.Contains(mention, ex.Message, StringComparison.Ordinal);
        Assert.True(before.AsSpan().SequenceEqual(c.Writable()), $"{c}: the failed call wrote to its outputs or state");
    }

    // ---------------------------------------------------------------------------------------------------
    // Coverage: every public method has cases (a new public method fails here until it gets some).

    [Fact]
    public void Every_public_method_of_a_generated_model_has_argument_cases()
    {
        HashSet<string> covered = GeneratedCases().Select(c => c.Method).Concat(NoArguments).ToHashSet();
        string[] methods = typeof(FuzzModel).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => !m.IsSpecialName).Select(Signature).ToArray();
        Assert.Contains("Forward(ReadOnlySpan<Single>, Span<Single>, Int32)", methods);
        AssertNone(methods.Where(m => !covered.Contains(m)), "public generated methods without argument cases");
        AssertNone(covered.Where(m => !methods.Contains(m)), "cases for methods that do not exist"); // no stale keys
    }

    [Fact]
    public void Every_public_runtime_method_taking_a_span_or_a_batch_has_argument_cases()
    {
        HashSet<string> covered = RuntimeCases().Select(c => c.Method).Concat(AnyLength).ToHashSet();
        var members = new List<string>();
        foreach (Type type in typeof(IH3Model).Assembly.GetExportedTypes())
        {
            if (type.IsInterface) continue; // IH3Model's members are the generated model's, covered above
            IEnumerable<MethodBase> all = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => !m.IsSpecialName).Cast<MethodBase>()
                .Concat(type.GetConstructors());
            foreach (MethodBase method in all)
            {
                if (method.GetParameters().Any(IsChecked)) members.Add(type.Name + "." + Signature(method));
            }
        }
        Assert.Contains("AdamW.Step(Span<Single>, ReadOnlySpan<Single>, Single)", members);
        AssertNone(members.Where(m => !covered.Contains(m)), "public runtime methods without argument cases");
        AssertNone(covered.Where(m => !members.Contains(m)), "cases for methods that do not exist");
    }

    private static void AssertNone(IEnumerable<string> items, string what)
    {
        string[] list = items.ToArray();
        Assert.True(list.Length == 0, $"{what}:\n  " + string.Join("\n  ", list));
    }

    /// <summary>A parameter the issue requires checked: a span of numbers, or a batch-like count.</summary>
    private static bool IsChecked(ParameterInfo p)
    {
        Type t = p.ParameterType;
        if (t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(Span<>) || t.GetGenericTypeDefinition() == typeof(ReadOnlySpan<>))) return true;
        return t == typeof(int) && p.Name is "batch" or "maxBatch" or "rows";
    }

    private static string Signature(MethodBase m) =>
        (m is ConstructorInfo ? ".ctor" : m.Name) + "(" + string.Join(", ", m.GetParameters().Select(p => TypeName(p.ParameterType))) + ")";

    private static string TypeName(Type t) =>
        t.IsGenericType ? t.Name[..t.Name.IndexOf('`')] + "<" + string.Join(", ", t.GetGenericArguments().Select(TypeName)) + ">" : t.Name;

    private sealed class UnreadableStream : MemoryStream
    {
        public override bool CanRead => false;
    }
}
