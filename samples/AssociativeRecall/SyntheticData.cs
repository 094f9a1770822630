using System;
using System.Collections.Generic;
using H3;

namespace AssociativeRecall;

/// <summary>The two in-context-learning tasks of the H3 paper's synthetic table.</summary>
public enum SyntheticTask
{
    /// <summary>Associative recall: key/value pairs, then "=>", a key, and its value.</summary>
    AssociativeRecall,

    /// <summary>Induction head: "=>" x somewhere, then "=>" at the end and x must be recalled.</summary>
    InductionHead,
}

/// <summary>
/// A tokenised data set: <see cref="Count"/> sequences of <see cref="Length"/> tokens (22 for associative recall, 31 for induction head)
/// inputs with their next-token targets (the sequence shifted by one).
/// </summary>
public sealed class SyntheticSplit
{
    /// <summary>Creates a split from whole sequences of <paramref name="sequenceLength"/> tokens each.</summary>
    public SyntheticSplit(IReadOnlyList<int[]> sequences, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        Count = sequences.Count;
        Length = sequenceLength - 1;
        Inputs = new int[Count * Length];
        Targets = new int[Count * Length];
        for (int i = 0; i < Count; i++)
        {
            int[] s = sequences[i];
            if (s.Length != sequenceLength) throw new ArgumentException($"sequence {i} has {s.Length} tokens, expected {sequenceLength}.", nameof(sequences));
            // input = tokens[0:L-1], target = tokens[1:L] (safari: example[:-1], example[1:])
            s.AsSpan(0, Length).CopyTo(Inputs.AsSpan(i * Length, Length));
            s.AsSpan(1, Length).CopyTo(Targets.AsSpan(i * Length, Length));
        }
    }

    /// <summary>Number of examples.</summary>
    public int Count { get; }

    /// <summary>Tokens per input (and per target) row.</summary>
    public int Length { get; }

    /// <summary>[Count, Length] token ids.</summary>
    public int[] Inputs { get; }

    /// <summary>[Count, Length] next-token ids.</summary>
    public int[] Targets { get; }
}

/// <summary>
/// The synthetic data of HazyResearch/safari <c>src/dataloaders/synthetics.py</c> (<c>ICLDataModule</c>),
/// ported step by step: the same vocabulary and id assignment, the same sequence construction, the same
/// order of random draws, the same de-duplication / re-draw / shuffle, train first and test continuing the
/// same stream.
/// </summary>
/// <remarks>
/// The random stream is <see cref="H3Random"/>, not NumPy's <c>default_rng</c> (PCG64), so the examples are not
/// bit-identical to safari's; only the generating procedure and the distribution are. Bit compatibility with
/// NumPy is not required: the tasks' difficulty depends only on the distribution.
/// </remarks>
public sealed class SyntheticDataset
{
    /// <summary>The copy prefix token ("=>").</summary>
    public const string CopyPrefix = "=>";

    /// <summary>The no-op token (".").</summary>
    public const string Noop = ".";

    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    private SyntheticDataset(SyntheticTask task, int vocabSize, int inputSeqLen)
    {
        Task = task;
        VocabSize = vocabSize;
        InputSeqLen = inputSeqLen;

        // Vocab(vocab_size - 2, {"copy_prefix": "=>", "noop": "."}): the ordinary tokens are "0".."V-3";
        // non_special_vocab = sorted(str tokens); vocab = sorted(ordinary + special). Python sorts strings by
        // code point, i.e. ordinal: "." (0x2E) < digits (0x30-0x39) < "=>" (0x3D), and "10" < "2".
        var ordinary = new List<string>();
        for (int i = 0; i < vocabSize - 2; i++) ordinary.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ordinary.Sort(StringComparer.Ordinal);
        NonSpecialVocab = ordinary.ToArray();
        var all = new List<string>(ordinary) { CopyPrefix, Noop };
        all.Sort(StringComparer.Ordinal);
        Vocab = all.ToArray();
        for (int i = 0; i < Vocab.Count; i++) _ids[Vocab[i]] = i;

        // Associative recall: input_seq_len/2 pairs, then "=>", the query key and its value (input_seq_len + 3).
        // Induction head: input_seq_len tokens, "=>", then the copied token (input_seq_len + 2).
        SequenceLength = task == SyntheticTask.AssociativeRecall ? inputSeqLen / 2 * 2 + 3 : inputSeqLen + 2;
    }

    /// <summary>The task.</summary>
    public SyntheticTask Task { get; }

    /// <summary>V: all tokens including "=>" and ".".</summary>
    public int VocabSize { get; }

    /// <summary><c>input_seq_len</c> of the config.</summary>
    public int InputSeqLen { get; }

    /// <summary>Tokens per generated sequence (AR: input_seq_len + 3 = 23; IH: input_seq_len + 2 = 32); inputs and targets are one shorter.</summary>
    public int SequenceLength { get; }

    /// <summary>All token strings, index = id ("." = 0, "=>" = V-1).</summary>
    public IReadOnlyList<string> Vocab { get; }

    /// <summary>The ordinary tokens, sorted as strings.</summary>
    public IReadOnlyList<string> NonSpecialVocab { get; }

    /// <summary>Training examples.</summary>
    public SyntheticSplit Train { get; private set; } = null!;

    /// <summary>Test examples (accuracy is measured on the last position only).</summary>
    public SyntheticSplit Test { get; private set; } = null!;

    /// <summary>The id of a token string.</summary>
    public int Id(string token) => _ids[token];

    /// <summary>
    /// Builds the data set of the paper's setting: associative recall V = 10, input_seq_len 20;
    /// induction head V = 20, input_seq_len 30; 5000 train and 500 test examples.
    /// </summary>
    public static SyntheticDataset Create(SyntheticTask task, long seed, int trainCount = 5000, int testCount = 500)
    {
        (int vocab, int len) = task == SyntheticTask.AssociativeRecall ? (10, 20) : (20, 30);
        return Create(task, vocab, len, seed, trainCount, testCount);
    }

    /// <summary>Builds a data set with an explicit vocabulary size and input_seq_len.</summary>
    public static SyntheticDataset Create(SyntheticTask task, int vocabSize, int inputSeqLen, long seed, int trainCount, int testCount)
    {
        if (vocabSize < 4) throw new ArgumentOutOfRangeException(nameof(vocabSize), "need at least two ordinary tokens");
        if (inputSeqLen < 4) throw new ArgumentOutOfRangeException(nameof(inputSeqLen));
        var data = new SyntheticDataset(task, vocabSize, inputSeqLen);
        // self.rng = np.random.default_rng(self.seed); train first, then test from the same stream.
        var rng = new H3Random(seed, 0x51A7);
        data.Train = new SyntheticSplit(data.GenerateSplit(trainCount, ref rng), data.SequenceLength);
        data.Test = new SyntheticSplit(data.GenerateSplit(testCount, ref rng), data.SequenceLength);
        return data;
    }

    /// <summary>One split: draw N, drop duplicates, re-draw until N distinct, shuffle.</summary>
    private List<int[]> GenerateSplit(int count, ref H3Random rng)
    {
        // examples = stack([generate_example() for _ in range(count)]); torch.unique(examples, dim=0)
        var drawn = new List<int[]>(count);
        for (int i = 0; i < count; i++) drawn.Add(GenerateExample(ref rng));
        var seen = new HashSet<int[]>(SequenceComparer.Instance);
        var examples = new List<int[]>(count);
        foreach (int[] e in drawn)
            if (seen.Add(e)) examples.Add(e);
        // while len(examples) < count: new = generate_example(); if new not in examples: append
        while (examples.Count < count)
        {
            int[] e = GenerateExample(ref rng);
            if (seen.Add(e)) examples.Add(e);
        }
        // self.rng.shuffle(examples): Fisher-Yates with the same stream.
        for (int i = examples.Count - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (examples[i], examples[j]) = (examples[j], examples[i]);
        }
        return examples;
    }

    private int[] GenerateExample(ref H3Random rng)
    {
        List<string> tokens = Task == SyntheticTask.AssociativeRecall ? GenerateAssocRecall(ref rng) : GenerateInductionHead(ref rng);
        if (tokens.Count != SequenceLength) throw new InvalidOperationException($"generated {tokens.Count} tokens, expected {SequenceLength}");
        // Tokenizer.tokenize: ids of the whitespace-separated strings.
        var ids = new int[tokens.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = _ids[tokens[i]];
        return ids;
    }

    /// <summary>
    /// generate_induction_head(vocab, input_seq_len, "=>", induction_len = 1, num_triggers = 1, rng).
    /// </summary>
    private List<string> GenerateInductionHead(ref H3Random rng)
    {
        const int inductionLen = 1;
        int numTriggers = 1;
        // generate_start_seq: input_seq_len ordinary tokens, uniform with replacement, then "=>".
        List<string> seq = GenerateStartSeq(ref rng);
        // if rng.uniform() < 0.5: num_triggers = 1   (a draw that changes nothing when num_triggers is 1)
        if (rng.NextDouble() < 0.5) numTriggers = 1;
        // pos = sorted(rng.integers(input_seq_len - (1 + induction_len), size=num_triggers))
        var pos = new int[numTriggers];
        for (int i = 0; i < numTriggers; i++) pos[i] = rng.NextInt(InputSeqLen - (1 + inductionLen));
        Array.Sort(pos);
        var filtered = new List<int>();
        for (int i = 0; i < pos.Length; i++)
            if (i == 0 || pos[i] - filtered[^1] > inductionLen) filtered.Add(pos[i]);
        var toCopy = new string[inductionLen];
        for (int i = 0; i < inductionLen; i++) toCopy[i] = seq[filtered[0] + 1 + i];
        foreach (int p in filtered)
        {
            seq[p] = CopyPrefix;
            for (int i = 0; i < inductionLen; i++) seq[p + 1 + i] = toCopy[i];
        }
        seq.AddRange(toCopy);
        return seq;
    }

    private List<string> GenerateStartSeq(ref H3Random rng)
    {
        // rng.choice(vocab.vocab, input_seq_len, replace=True, p = uniform over the non-special tokens)
        var seq = new List<string>(SequenceLength);
        for (int i = 0; i < InputSeqLen; i++) seq.Add(NonSpecialVocab[rng.NextInt(NonSpecialVocab.Count)]);
        seq.Add(CopyPrefix);
        return seq;
    }

    /// <summary>
    /// generate_assoc_recall(vocab, input_seq_len, num_keys = 1, rng, allow_dot = False) (the data module's
    /// allow_dot default is False, so the query is always a key that appeared).
    /// </summary>
    private List<string> GenerateAssocRecall(ref H3Random rng)
    {
        const int numKeys = 1;
        int n = NonSpecialVocab.Count;
        // keys = non_special_vocab[:n // 2], values = non_special_vocab[n // 2:]
        int keyCount = n / 2;
        int valueCount = n - keyCount;
        // kv_map = {key: rng.choice(values) for key in keys}, in key order
        var kv = new string[keyCount];
        for (int k = 0; k < keyCount; k++) kv[k] = NonSpecialVocab[keyCount + rng.NextInt(valueCount)];

        var present = new List<int>(); // key_present, in insertion order (a Python dict keeps it)
        var seq = new List<string>(SequenceLength);
        for (int i = 0; i < InputSeqLen / (numKeys + 1); i++)
        {
            int k = rng.NextInt(keyCount); // rng.choice(list(kv_map.keys()))
            seq.Add(NonSpecialVocab[k]);
            seq.Add(kv[k]);
            if (!present.Contains(k)) present.Add(k);
        }
        // k = rng.choice(all keys); while k not present: k = rng.choice(list(key_present.keys()))
        int query = rng.NextInt(keyCount);
        while (!present.Contains(query)) query = present[rng.NextInt(present.Count)];
        // to_copy = ["=>", k, kv_map[k]]
        seq.Add(CopyPrefix);
        seq.Add(NonSpecialVocab[query]);
        seq.Add(kv[query]);
        return seq;
    }

    private sealed class SequenceComparer : IEqualityComparer<int[]>
    {
        public static readonly SequenceComparer Instance = new();

        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] obj)
        {
            var h = new HashCode();
            foreach (int v in obj) h.Add(v);
            return h.ToHashCode();
        }
    }
}
