using AssociativeRecall;

namespace H3.Tests.Models;

/// <summary>The paper's associative-recall model (2 layers, d_model 32, no short convolution).</summary>
[H3Model(EmbedDim = 10, Hidden = 32, State = 64, ConvSize = 0, Layers = 2, WindowSize = 22, Dropout = 0f)]
public sealed partial class RecallModel { }

public sealed class TrainingSmokeTests
{
    [Fact]
    public void Loss_falls_and_accuracy_leaves_chance_on_associative_recall_within_three_epochs()
    {
        var data = SyntheticDataset.Create(SyntheticTask.AssociativeRecall, seed: 0, trainCount: 5000, testCount: 500);
        var model = new RecallModel(seed: 0);
        using var trainer = new Trainer(model, data, new TrainingOptions(Epochs: 3, LearningRate: 5e-4f, BatchSize: 32, Seed: 0, EvalEvery: 1, Cosine: false, Threads: 2));
        EpochResult first = trainer.TrainEpoch(1);
        trainer.TrainEpoch(2);
        EpochResult third = trainer.TrainEpoch(3);
        // Uniform guessing over 10 tokens costs ln 10 = 2.30 nats; chance accuracy on the answer is 25 %.
        Assert.True(third.Loss < first.Loss - 0.1f, $"loss {first.Loss} → {third.Loss}");
        Assert.True(third.Loss < 1.6f, $"loss after 3 epochs {third.Loss}");
        Assert.True(third.TestAccuracy > 0.4f, $"test accuracy after 3 epochs {third.TestAccuracy}");
        Assert.Equal(0, trainer.StepAllocatedBytes);
    }
}
