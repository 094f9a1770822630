using System;
using System.Diagnostics;
using H3;

// The seed's default model: 60 frames of a 287-value game state → a 256-value encoding.
var model = new FrameEncoder(seed: 42);
const int batch = 8;

var input = new float[batch * FrameEncoder.WindowSize * FrameEncoder.EmbedDim];
var rng = new H3Random(7);
for (int i = 0; i < input.Length; i++) input[i] = (float)rng.NextGaussian();
var output = new float[batch * FrameEncoder.OutputSize];

model.Forward(input, output, batch); // first call sizes the working memory

const int calls = 20;
var clock = Stopwatch.StartNew();
for (int i = 0; i < calls; i++) model.Forward(input, output, batch);
clock.Stop();

double ms = clock.Elapsed.TotalMilliseconds / calls;
Console.WriteLine($"FrameEncoder: E={FrameEncoder.EmbedDim} H={FrameEncoder.Hidden} N={FrameEncoder.State} K={FrameEncoder.ConvSize} L={FrameEncoder.Layers} T={FrameEncoder.WindowSize}");
Console.WriteLine($"parameters: {FrameEncoder.ParameterCount:N0}");
Console.WriteLine($"input [{batch}, {FrameEncoder.WindowSize}, {FrameEncoder.EmbedDim}] -> output [{batch}, {FrameEncoder.OutputSize}]");
Console.WriteLine($"Forward: {ms:F2} ms per call ({ms / batch:F2} ms per window), output[0..4] = {output[0]:F4} {output[1]:F4} {output[2]:F4} {output[3]:F4}");

[H3Model(EmbedDim = 287, Hidden = 256, State = 64, ConvSize = 4, Layers = 4, WindowSize = 60, Dropout = 0.1f)]
public partial class FrameEncoder { }
