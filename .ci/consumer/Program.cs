// The package consumer test's program (.ci/consumer-test copies it into a fresh `dotnet new console` project outside
// the repository that references only the H3 package). It declares a model, checks what a user relies on first and
// prints one line per check; any failure exits with 1. Runs the same under the JIT and as a Native AOT binary.
using System.Globalization;
using H3;

const int batch = 2;
bool ok = true;
void Check(string what, bool passed)
{
    Console.WriteLine($"{(passed ? "ok  " : "FAIL")} {what}");
    ok &= passed;
}

var model = new Consumer.PackagedEncoder(seed: 42);
Console.WriteLine($"parameters={Consumer.PackagedEncoder.ParameterCount}");
Check("Parameters has ParameterCount floats", model.Parameters.Length == Consumer.PackagedEncoder.ParameterCount);

// Inference: [batch, WindowSize, EmbedDim] in, [batch, OutputSize] out.
var input = new float[batch * Consumer.PackagedEncoder.WindowSize * Consumer.PackagedEncoder.EmbedDim];
for (int i = 0; i < input.Length; i++) input[i] = MathF.Sin(0.37f * i);
var output = new float[batch * Consumer.PackagedEncoder.OutputSize];
model.Forward(input, output, batch);
Check("Forward output is finite and not all zero", output.All(float.IsFinite) && output.Any(v => v != 0f));
Console.WriteLine("output[0..4]=" + string.Join(" ", output.Take(4).Select(v => v.ToString("0.000000", CultureInfo.InvariantCulture))));

// Save, load into a differently seeded model: identical outputs.
string path = Path.Combine(Path.GetTempPath(), $"h3-consumer-{Environment.ProcessId}.safetensors");
try
{
    model.SaveWeights(path);
    var loaded = new Consumer.PackagedEncoder(seed: 7);
    loaded.LoadWeights(path);
    var again = new float[output.Length];
    loaded.Forward(input, again, batch);
    Check("SaveWeights/LoadWeights round trip gives identical outputs", output.AsSpan().SequenceEqual(again));
}
finally
{
    File.Delete(path);
}

// Streaming: T steps from a reset state equal Forward on the window.
H3StreamState stream = model.CreateStream(batch);
var frames = new float[batch * Consumer.PackagedEncoder.EmbedDim];
var stepped = new float[output.Length];
for (int t = 0; t < Consumer.PackagedEncoder.WindowSize; t++)
{
    for (int b = 0; b < batch; b++)
        input.AsSpan((b * Consumer.PackagedEncoder.WindowSize + t) * Consumer.PackagedEncoder.EmbedDim, Consumer.PackagedEncoder.EmbedDim)
            .CopyTo(frames.AsSpan(b * Consumer.PackagedEncoder.EmbedDim));
    model.Step(frames, stepped, stream);
}
float maxDiff = output.Zip(stepped, (a, s) => MathF.Abs(a - s)).Max();
Check($"Step over the window equals Forward (max |diff| {maxDiff.ToString("0.0e0", CultureInfo.InvariantCulture)})", maxDiff <= 1e-4f);

// Training: fit the output to a target with MSE and AdamW; the loss falls.
H3Workspace workspace = model.CreateWorkspace(batch);
var optimizer = new AdamW(model);
var target = new float[output.Length];
var gradient = new float[output.Length];
float first = 0f, last = 0f;
for (int step = 0; step < 20; step++)
{
    model.ZeroGradients();
    model.Forward(input, output, batch, workspace, training: false);
    last = Losses.MeanSquaredError(output, target, gradient);
    if (step == 0) first = last;
    model.Backward(gradient, workspace);
    optimizer.Step(model, learningRate: 1e-2f);
}
Check($"20 AdamW steps lower the MSE ({first.ToString("0.0000", CultureInfo.InvariantCulture)} -> {last.ToString("0.0000", CultureInfo.InvariantCulture)})", last < first);

Console.WriteLine(ok ? "H3 consumer: all checks passed" : "H3 consumer: FAILED");
return ok ? 0 : 1;

namespace Consumer
{
    /// <summary>A small H3 model declared exactly as the README shows; the generator from the package fills it in.</summary>
    [H3Model(EmbedDim = 6, Hidden = 8, State = 4, ConvSize = 2, Layers = 2, WindowSize = 10)]
    public partial class PackagedEncoder { }
}
