using H3;

namespace H3.Benchmarks;

/// <summary>The seed's default model (H3-SPEC.md defaults, E = 287), dropout off so training steps are deterministic.</summary>
[H3Model(EmbedDim = 287, Hidden = 256, State = 64, ConvSize = 4, Layers = 4, WindowSize = 60, Dropout = 0f)]
public partial class BenchModel { }
