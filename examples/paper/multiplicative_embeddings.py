"""Multiplicative embeddings in a language model, at convergence (Jayakumar et al. Table 1, small scale).

Jayakumar et al. (2020, section 8, Table 1, Appendix G): a one-layer LSTM
whose input and output embeddings are tied. The baseline projects the LSTM's
output h to the embedding size with one linear layer; "MultDec" computes the
output embedding as a Multiplicative Interaction `M(c, h)` of h with a small
context `c = relu(W3 h + b)` (the hypernetwork form with its bottleneck);
"MultEncDec" adds a diagonal multiplicative interaction of the input
embedding and h_(t-1) (here the MI-LSTM cell, whose gates are that
interaction). On WikiText-103 (word level, 2048 units, context 32,
embedding 256): test perplexity 36.7 (LSTM, 88M parameters), 33.7 (MultDec,
105M), 30.3 (MultEncDec, 110M).

Here, at small scale, on characters of English text (the protocol's King
James corpus and data, windows of 50, converged by its rule), with the
library's `keras_mi.models.multiplicative_embedding_model`:

- LSTM: `output_embedding="linear"`, the paper's baseline;
- LSTM + concatenated context: `output_embedding="concatenated"`, the same
  context c joined to h by a linear layer: MultDec without its bilinear
  term, so that a gain of MultDec over it is the multiplicative term's and
  not the extra relu pathway's (adding c and concatenating it are the same
  linear map);
- LSTM + MultDec: `output_embedding="multiplicative"`;
- MI-LSTM + MultDec: the same with the MI-LSTM cell (MultEncDec).

Sizes keep the paper's proportions where they set the parameter count: the
context is 4 for 128 units, so that MultDec adds about 19 % to the LSTM's
parameters, as 17M does to 88M in the paper (context 32 for 2048 units
would be 2 here). Adam at the paper's 1e-3 with the protocol's
halve-on-plateau schedule and clipping at norm 1; no dropout (the paper's
0.3 is for a 100M-parameter model; these 100k-parameter models do not
overfit 3.7 MB of text, see the validation curves); Keras' initialisers.

    .venv/bin/python -m examples.paper.multiplicative_embeddings [--seeds 3] [--resume]
"""

import os

from examples.paper import common, protocol, verdicts

from keras_mi.models import compile_language_model, multiplicative_embedding_model

NAME = "multiplicative_embeddings"
# label: (cell, output embedding)
MODELS = {
    "LSTM": ("lstm", "linear"),
    "LSTM + concatenated context": ("lstm", "concatenated"),
    "LSTM + MultDec": ("lstm", "multiplicative"),
    "MI-LSTM + MultDec": ("milstm", "multiplicative"),
}
SMALL = dict(protocol.DEFAULTS, seeds=3, learning_rate=1e-3, clipnorm=1.0, steps=30_000,
             embedding_dim=32, context_units=4)
# Appendix G: 2048 units, embedding 256, context 32, sequences of 128, Adam 1e-3.
PAPER_SCALE = dict(SMALL, units=2048, embedding_dim=256, context_units=32, sequence_length=128,
                   steps=500_000, eval_every=5_000, convergence_window=50_000)


def build(label, args, vocabulary):
    cell, output = MODELS[label]
    return multiplicative_embedding_model(cell, units=args.units, embedding_dim=args.embedding_dim,
                                          context_units=args.context_units,
                                          vocabulary_size=vocabulary, output_embedding=output)


def _arguments(parser):
    protocol.add_arguments(parser)
    parser.add_argument("--clipnorm", type=float, help="gradient clipping norm")
    parser.add_argument("--embedding-dim", type=int, help="size of the tied embedding")
    parser.add_argument("--context-units", type=int, help="size of the context c")
    parser.add_argument("--resume", action="store_true",
                        help="keep the finished runs of NAME.partial.json in --out (same settings) "
                             "and train only the others")


def train(args, out, corpus, validation, test):
    """The runs, and the record's protocol part."""
    vocabulary = corpus.characters.size
    sizes = {label: common.trainable_parameters(build(label, args, vocabulary))
             for label in MODELS}
    runs = common.load_partial(out, NAME, args) if args.resume else []
    done, resumed = {(r["model"], r["seed"]) for r in runs}, len(runs)
    for seed in range(args.seeds):
        for label in MODELS:
            if (label, seed) in done:
                continue
            common.set_seed(seed)
            model = build(label, args, vocabulary)
            compile_language_model(model, args.learning_rate, args.clipnorm)
            result = protocol.trained_and_tested(model, args, corpus.stream(seed), validation,
                                                 test)
            runs.append({"model": label, "seed": seed, "parameters": sizes[label], **result})
            common.save_partial(out, NAME, runs, args)
            protocol.say(runs[-1], label)
    runs.sort(key=lambda r: (r["seed"], list(MODELS).index(r["model"])))
    note = protocol.settings_note(args, keras_initialisers=True)
    note["rule"] = ("Keras' initialisers (Glorot uniform kernels, orthogonal recurrent kernels, "
                    "unit forget bias; the tied embedding's own)")
    return runs, {"protocol": dict(note, vocabulary_size=vocabulary), "resumed_runs": resumed}


def summarize(args, runs, out):
    """The table, the verdicts and the figures from the runs (also `--from-json`)."""
    return protocol.summarize_models(
        runs, MODELS, ("parameters",), os.path.join(out, f"{NAME}.png"),
        f"validation BPC (mean ± std over {args.seeds} seeds)", judge(runs))


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    return {
        "multdec_vs_lstm": (verdicts.CRITERIA["multdec_vs_lstm"],
                            verdicts.lower_than(runs, "LSTM + MultDec", "LSTM")),
        "multdec_vs_concatenated": (
            verdicts.CRITERIA["multdec_vs_concatenated"],
            verdicts.lower_than(runs, "LSTM + MultDec", "LSTM + concatenated context")),
        "multencdec_vs_multdec": (verdicts.CRITERIA["multencdec_vs_multdec"],
                                  verdicts.lower_than(runs, "MI-LSTM + MultDec",
                                                      "LSTM + MultDec")),
    }


def main(argv=None):
    return protocol.experiment(NAME, __doc__, argv, SMALL, PAPER_SCALE, _arguments, train,
                               summarize)


if __name__ == "__main__":
    main()
