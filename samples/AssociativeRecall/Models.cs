using H3;

namespace AssociativeRecall;

// The paper's 2-layer synthetic-task models (safari configs/experiment/synthetics): d_model 32, d_state 64,
// residual dropout 0, embedding dropout 0.1. Tokens enter as one-hot frames (E = vocabulary size), so input_proj plays the role of the
// token embedding; T = input_seq_len + 2. One class per (task, short-convolution) pair, because every shape is
// a compile-time constant of the generated code.

/// <summary>Associative recall (V = 10, 22 input tokens), with the seed's short convolution (K = 4).</summary>
[H3Model(EmbedDim = 10, Hidden = 32, State = 64, ConvSize = 4, Layers = 2, WindowSize = 22, Dropout = 0f, EmbedDropout = 0.1f)]
public sealed partial class AssocRecallConv4 { }

/// <summary>Associative recall (V = 10, 22 input tokens), the paper's H3 layer alone (K = 0).</summary>
[H3Model(EmbedDim = 10, Hidden = 32, State = 64, ConvSize = 0, Layers = 2, WindowSize = 22, Dropout = 0f, EmbedDropout = 0.1f)]
public sealed partial class AssocRecallConv0 { }

/// <summary>Induction head (V = 20, 31 input tokens), with the short convolution (K = 4).</summary>
[H3Model(EmbedDim = 20, Hidden = 32, State = 64, ConvSize = 4, Layers = 2, WindowSize = 31, Dropout = 0f, EmbedDropout = 0.1f)]
public sealed partial class InductionHeadConv4 { }

/// <summary>Induction head (V = 20, 31 input tokens), the paper's H3 layer alone (K = 0).</summary>
[H3Model(EmbedDim = 20, Hidden = 32, State = 64, ConvSize = 0, Layers = 2, WindowSize = 31, Dropout = 0f, EmbedDropout = 0.1f)]
public sealed partial class InductionHeadConv0 { }
