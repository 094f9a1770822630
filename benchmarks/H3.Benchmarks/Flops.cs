namespace H3.Benchmarks;

/// <summary>
/// FLOP counts (written down, issue 6): 2·M·N·K per matrix product (M = rows = batch·T) plus the SSM convolution
/// work (2 FLOP per tap per channel per frame); LayerNorm/activations/SSM-kernel building are not counted.
/// E = 287, H = 256, N = 64, K = 4, L = 4, T = 60, F = 1024.
///   input_proj      2·60·287·256                    =   8,816,640
///   per layer: q,k,v 3·2·60·256·256                 =  23,592,960
///              out_proj 2·60·256·256                =   7,864,320
///              fc1 + fc2 2·(2·60·256·1024)          =  62,914,560
///              shift SSM 2·256·Σ_t min(t+1,60)=1830 =     936,960
///              diag SSM  2·256·Σ_t (t+1) = 1830     =     936,960
///              short conv 2·256·(60·4 - 6)          =     119,808
///   4 layers                                         = 385,460,352
///   total per window                                 ≈ 394.3 MFLOP (the generated header says 0.394 GFLOP)
/// The generated Forward skips out_proj/fc1/fc2 of the last layer at 59 of 60 frames (last-frame output), so it
/// executes ≈ 324.6 MFLOP; rates below are always on the full-model count, as the targets are.
/// Training (Forward(workspace) + Backward): ≈ 3 × the full forward (each product's dX and dW cost as much as Y).
/// Step (one frame): 2·(287·256 + 4·(4·256² + 2·256·1024)) = 6.44 MFLOP of mat-vec, + SSM ≈ 0.2 MFLOP; memory:
/// 3,569,152 floats = 13.6 MiB of weights read per frame.
/// </summary>
public static class Flops
{
    public const int E = 287, H = 256, L = 4, T = 60, F = 1024, Taps = 1830, ConvTaps = 60 * 4 - 6;

    public static double ForwardPerWindow =>
        2.0 * T * E * H + L * (2.0 * T * (4.0 * H * H + 2.0 * H * F) + 2.0 * H * Taps * 2 + 2.0 * H * ConvTaps);

    public static double TrainingPerWindow => 3 * ForwardPerWindow;

    public static double StepPerFrame => 2.0 * (E * H + L * (4.0 * H * H + 2.0 * H * F)) + L * 2.0 * H * (60 + 2 * 32 * 4 + 4);

    public const double ParameterBytes = 3_569_152 * 4.0;
}
