using System;
using H3;

namespace H3.SaveWorker;

/// <summary>
/// The model the worker saves: about 0.4 MB of weights, so a kill often lands inside a save (while the temporary
/// file is written, flushed or renamed).
/// </summary>
[H3Model(EmbedDim = 16, Hidden = 64, State = 16, ConvSize = 4, Layers = 2, WindowSize = 8)]
public partial class SaveWorkerModel
{
    /// <summary>The two weight sets the worker alternates between: seeds 1 and 2.</summary>
    public static readonly int[] Seeds = [1, 2];
}

/// <summary>
/// Usage: <c>dotnet H3.SaveWorker.dll PATH</c>. Prints "ready", then saves the weights of seed 1, seed 2, seed 1, ...
/// to PATH with <c>SaveWeights</c> until it is killed, printing the number of completed saves now and then.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: H3.SaveWorker PATH");
            return 2;
        }
        var models = new[] { new SaveWorkerModel(SaveWorkerModel.Seeds[0]), new SaveWorkerModel(SaveWorkerModel.Seeds[1]) };
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        for (long saves = 0; ; saves++)
        {
            models[saves % 2].SaveWeights(args[0]);
            if (saves % 16 == 0)
            {
                Console.Out.WriteLine($"saved {saves + 1}");
                Console.Out.Flush();
            }
        }
    }
}
