using System;
using System.Linq;

namespace H3.Tests.Models;

/// <summary>
/// Backs the claim of the analyzer hint H3022 (docs/diagnostics.md#h3022): when State N exceeds WindowSize T, the
/// shift-SSM taps j ≥ T never reach an output, so with the initialisation shift.B = e1 (tap j = C[h, j]) the
/// columns shift.C[:, T..N-1] get exactly zero gradient, and they only start to matter once shift.B leaves e1.
/// </summary>
public class ShiftTapTests
{
    private static float[] ShiftCGradient(IH3Model model, int batch)
    {
        H3ModelInfo c = model.Info;
        float[] input = Sweep.RandomInput(batch * c.WindowSize * c.EmbedDim, seed: 3);
        float[] dOut = Sweep.RandomInput(batch * c.Hidden, seed: 4);
        H3Workspace workspace = model.CreateWorkspace(batch);
        model.ZeroGradients();
        model.Forward(input, new float[batch * c.Hidden], batch, workspace, training: false);
        model.Backward(dOut, workspace);
        H3Tensor shiftC = Tensor(model, "layers.0.mixer.shift.C");
        return model.Gradients.Slice(shiftC.Offset, shiftC.Length).ToArray();
    }

    private static H3Tensor Tensor(IH3Model model, string name)
    {
        foreach (H3Tensor t in model.Tensors)
            if (t.Name == name) return t;
        throw new InvalidOperationException(name);
    }

    [Fact]
    public void Shift_C_beyond_the_window_has_zero_gradient_while_shift_B_is_e1()
    {
        var model = new SweepD(seed: 5); // H = 5, N = 6, T = 2
        const int h = SweepD.Hidden, n = SweepD.State, t = SweepD.WindowSize;
        Assert.True(n > t);

        float[] g = ShiftCGradient(model, batch: 3);
        for (int c = 0; c < h; c++)
        {
            Assert.All(Enumerable.Range(t, n - t), j => Assert.Equal(0f, g[c * n + j]));
            Assert.Contains(Enumerable.Range(0, t), j => g[c * n + j] != 0f);
        }

        // Once shift.B moves off e1, C[h, t] reaches tap t - 1 through B[h, 1]: its gradient is no longer zero.
        H3Tensor shiftB = Tensor(model, "layers.0.mixer.shift.B");
        for (int c = 0; c < h; c++) model.Parameters[shiftB.Offset + c * n + 1] = 0.5f;
        g = ShiftCGradient(model, batch: 3);
        Assert.All(Enumerable.Range(0, h), c => Assert.NotEqual(0f, g[c * n + t]));
    }
}
