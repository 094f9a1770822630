using System.Collections.Generic;
using ScottPlot;

namespace AssociativeRecall;

/// <summary>The training curves as a PNG: loss on the left axis, test accuracy on the right.</summary>
internal static class Plotting
{
    public static void Save(string path, string taskName, IReadOnlyList<EpochResult> history)
    {
        var epochs = new List<double>();
        var losses = new List<double>();
        var accEpochs = new List<double>();
        var accuracies = new List<double>();
        foreach (EpochResult r in history)
        {
            epochs.Add(r.Epoch);
            losses.Add(r.Loss);
            if (!float.IsNaN(r.TestAccuracy))
            {
                accEpochs.Add(r.Epoch);
                accuracies.Add(100.0 * r.TestAccuracy);
            }
        }

        var plot = new Plot();
        var loss = plot.Add.Scatter(epochs.ToArray(), losses.ToArray());
        loss.LegendText = "training loss (every position)";
        loss.MarkerSize = 0;
        loss.LineWidth = 2;
        var acc = plot.Add.Scatter(accEpochs.ToArray(), accuracies.ToArray());
        acc.LegendText = "test accuracy, last position (%)";
        acc.MarkerSize = 0;
        acc.LineWidth = 2;
        acc.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Right.Label.Text = "test accuracy (%)";
        plot.Axes.SetLimitsY(0, 100, plot.Axes.Right);
        plot.YLabel("training cross-entropy");
        plot.XLabel("epoch");
        plot.Title($"H3 on {taskName}");
        plot.ShowLegend(Alignment.MiddleRight);
        plot.SavePng(path, 1000, 600);
    }
}
