using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AssociativeRecall;
using H3;
using Spectre.Console;

// The H3 paper's synthetic in-context-learning table (2-layer models, test accuracy on the last token),
// reproduced with the generated C# model: data as safari's synthetics.py, recipe as its configs.

var taskOption = new Option<string>("--task")
{
    Description = "ar = associative recall (vocab 10, length 20), ih = induction head (vocab 20, length 30)",
    DefaultValueFactory = _ => "ar",
};
taskOption.AcceptOnlyFromAmong("ar", "ih");
var epochsOption = new Option<int?>("--epochs") { Description = "Training epochs (default: 200 for ar, 400 for ih, as in the paper's recipe)" };
var lrOption = new Option<float>("--lr") { Description = "Peak learning rate; the SSM parameters get min(1e-3, lr)", DefaultValueFactory = _ => 5e-4f };
var seedOption = new Option<int>("--seed") { Description = "Seed of the initialisation and of the batch order", DefaultValueFactory = _ => 0 };
var dataSeedOption = new Option<int>("--data-seed") { Description = "Seed of the data generation (safari uses 0)", DefaultValueFactory = _ => 0 };
var convOption = new Option<int>("--conv-size") { Description = "Short convolution after the H3 mixer: 0 (the paper's H3, default: this sample reproduces the paper's table) or 4 (the seed's block)", DefaultValueFactory = _ => 0 };
var batchOption = new Option<int>("--batch") { Description = "Batch size", DefaultValueFactory = _ => 32 };
var threadsOption = new Option<int>("--threads") { Description = "Data-parallel threads per batch (default: all cores); same seed and thread count give the same result bit for bit", DefaultValueFactory = _ => Environment.ProcessorCount };
var evalEveryOption = new Option<int>("--eval-every") { Description = "Evaluate the test set every N epochs", DefaultValueFactory = _ => 1 };
var plotOption = new Option<string?>("--plot") { Description = "Write a PNG of training loss and test accuracy per epoch" };

convOption.Validators.Add(result =>
{
    int k = result.GetValueOrDefault<int>();
    if (k is not (0 or 4)) result.AddError($"--conv-size must be 0 or 4 (the sample compiles models for those two only), not {k}.");
});
epochsOption.Validators.Add(result =>
{
    int? e = result.GetValueOrDefault<int?>();
    if (e is < 1) result.AddError($"--epochs must be at least 1, not {e}.");
});
lrOption.Validators.Add(result =>
{
    float lr = result.GetValueOrDefault<float>();
    if (!(lr > 0 && lr < 1)) result.AddError($"--lr must be in (0, 1), not {lr.ToString(CultureInfo.InvariantCulture)}.");
});
batchOption.Validators.Add(result =>
{
    int b = result.GetValueOrDefault<int>();
    if (b is < 1 or > 5000) result.AddError($"--batch must be in 1..5000, not {b}.");
});
evalEveryOption.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int>() < 1) result.AddError("--eval-every must be at least 1.");
});

var root = new RootCommand("Trains the generated H3 model on the H3 paper's synthetic tasks (associative recall, induction head).")
{
    taskOption, epochsOption, lrOption, seedOption, dataSeedOption, convOption, batchOption, threadsOption, evalEveryOption, plotOption,
};
root.SetAction(parse =>
{
    bool ar = parse.GetValue(taskOption) == "ar";
    int conv = parse.GetValue(convOption);
    float lr = parse.GetValue(lrOption);
    int seed = parse.GetValue(seedOption);
    int epochs = parse.GetValue(epochsOption) ?? (ar ? 200 : 400);
    var options = new TrainingOptions(epochs, lr, parse.GetValue(batchOption), seed, parse.GetValue(evalEveryOption), Cosine: !ar, Threads: parse.GetValue(threadsOption));
    return Run.Execute(ar, conv, parse.GetValue(dataSeedOption), options, parse.GetValue(plotOption));
});
return root.Parse(args).Invoke();

/// <summary>The run: data, model, training with progress, summary table, plot, final line.</summary>
internal static class Run
{
    public static int Execute(bool ar, int conv, int dataSeed, TrainingOptions options, string? plotPath)
    {
        var total = Stopwatch.StartNew();
        // Redirected output (logs): Spectre assumes 80 columns and would wrap the summary lines.
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 120) AnsiConsole.Profile.Width = 120;
        SyntheticTask task = ar ? SyntheticTask.AssociativeRecall : SyntheticTask.InductionHead;
        string taskName = ar ? "associative-recall" : "induction-head";

        var dataClock = Stopwatch.StartNew();
        SyntheticDataset data = SyntheticDataset.Create(task, dataSeed);
        dataClock.Stop();

        IH3Model model = (ar, conv) switch
        {
            (true, 0) => new AssocRecallConv0(options.Seed),
            (true, _) => new AssocRecallConv4(options.Seed),
            (false, 0) => new InductionHeadConv0(options.Seed),
            (false, _) => new InductionHeadConv4(options.Seed),
        };
        using var trainer = new Trainer(model, data, options);
        H3ModelInfo info = model.Info;

        AnsiConsole.MarkupLine(Inv($"[bold]{taskName}[/]: vocab {data.VocabSize}, input_seq_len {data.InputSeqLen} → {data.SequenceLength} tokens per example, {data.Train.Count} train / {data.Test.Count} test (generated in {dataClock.Elapsed.TotalMilliseconds:F0} ms)"));
        AnsiConsole.MarkupLine(Inv($"model: {model.GetType().Name} (E={info.EmbedDim} H={info.Hidden} N={info.State} K={info.ConvSize} L={info.Layers} T={info.WindowSize}, residual dropout {info.Dropout}, embedding dropout {info.EmbedDropout}) + Linear({info.Hidden}, {data.VocabSize}) head, {trainer.ParameterCount:N0} parameters"));
        AnsiConsole.MarkupLine(Inv($"recipe: AdamW lr {options.LearningRate:G3} (SSM {MathF.Min(1e-3f, options.LearningRate):G3}), wd 0.1, batch {options.BatchSize}, {options.Epochs} epochs × {trainer.StepsPerEpoch} steps, {(options.Cosine ? "cosine, 10% warmup" : "linear warmup ⌈epochs/10⌉ then linear decay")}, seed {options.Seed}"));

        var history = new List<EpochResult>(options.Epochs);
        int logEvery = Math.Max(1, options.Epochs / 20);
        double trainSeconds = 0;
        float lastAccuracy = float.NaN;

        void Log(EpochResult r)
        {
            string acc = float.IsNaN(lastAccuracy) ? "  -  " : Inv($"{100 * lastAccuracy:F1}%");
            AnsiConsole.MarkupLine(Inv($"epoch {r.Epoch,4}/{options.Epochs}  loss {r.Loss:F4}  test acc {acc}  lr {r.LearningRate:E2}  {r.Seconds:F2} s/epoch"));
        }

        EpochResult RunEpoch(int epoch)
        {
            EpochResult r = trainer.TrainEpoch(epoch);
            history.Add(r);
            trainSeconds += r.Seconds;
            if (!float.IsNaN(r.TestAccuracy)) lastAccuracy = r.TestAccuracy;
            if (epoch % logEvery == 0 || epoch == 1 || epoch == options.Epochs) Log(r);
            return r;
        }

        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    ProgressTask bar = ctx.AddTask("training", maxValue: options.Epochs);
                    for (int epoch = 1; epoch <= options.Epochs; epoch++)
                    {
                        EpochResult r = RunEpoch(epoch);
                        string acc = float.IsNaN(lastAccuracy) ? "-" : Inv($"{100 * lastAccuracy:F1}%");
                        bar.Description = Inv($"epoch {epoch}/{options.Epochs} loss {r.Loss:F4} acc {acc}");
                        bar.Increment(1);
                    }
                });
        }
        else
        {
            // Not a terminal: Spectre would not draw the live bar, so the log lines above are the progress.
            for (int epoch = 1; epoch <= options.Epochs; epoch++) RunEpoch(epoch);
        }

        float final = history[^1].TestAccuracy;
        float best = 0;
        foreach (EpochResult r in history)
            if (!float.IsNaN(r.TestAccuracy)) best = MathF.Max(best, r.TestAccuracy);
        total.Stop();

        var table = new Table().Border(TableBorder.Rounded).Title(Inv($"{taskName}: test accuracy on the last token (%)"));
        table.AddColumn("model");
        table.AddColumn(new TableColumn("test accuracy").RightAligned());
        table.AddColumn("source");
        table.AddRow(Inv($"[bold]H3 (this run, K={info.ConvSize})[/]"), Inv($"[bold]{100 * final:F1}[/]"), Inv($"C# generated model, {options.Epochs} epochs, best {100 * best:F1}"));
        table.AddRow("H3", ar ? "99.8" : "100.0", "paper (2-layer)");
        table.AddRow("S4D", ar ? "86.0" : "35.6", "paper (2-layer)");
        table.AddRow("chance", ar ? "25.0" : "5.0", ar ? "1 / 4 values" : "1 / 20 tokens");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Inv($"training {trainSeconds:F1} s ({trainSeconds / options.Epochs:F3} s/epoch, {1000 * trainSeconds / trainer.TotalSteps:F2} ms/step), total {total.Elapsed.TotalSeconds:F1} s; allocated in the step loop: {trainer.StepAllocatedBytes:N0} bytes after epoch 1 ({trainer.FirstEpochAllocatedBytes:N0} in epoch 1)"));

        if (plotPath is not null)
        {
            Plotting.Save(plotPath, taskName, history);
            AnsiConsole.MarkupLine($"plot: {Markup.Escape(plotPath)}");
        }

        Console.Out.Flush();
        Console.WriteLine(Inv($"{taskName} test accuracy: {100 * final:F1}%"));
        return 0;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
