"""MI-LSTM and the multiplicative LSTM against the LSTM at equal parameter count, at convergence.

Wu et al. (2016, section 3.2, Table 1 bottom middle): at equal size MI-LSTM
(alpha, beta1, beta2 initialised to (1, 0.5, 0.5) on text8) beats the LSTM,
1.44 against 1.51 BPC (about 4M parameters). The multiplicative LSTM
(Krause et al. 2016; the blog post seed, section 2.3): input-dependent
recurrent transitions give a richer model than the LSTM's, here at equal
parameter count. One-hot characters of English text, one recurrent layer:
the LSTM's `--units` set the trainable-parameter budget and the others get
the units closest to it. Each run trains to convergence (protocol.py's data,
schedule and stopping rule); the LSTM family keeps Keras' initialisers
(Glorot input kernels, orthogonal recurrent kernels, unit forget bias), as
the text8 protocol the paper follows does not use the section 3.1 uniform
range. The LSTM is `MILSTM(integration="additive")`: Keras' LSTM's
equations through the same fused recurrence as the MI-LSTM.

    .venv/bin/python -m examples.paper.lstm_family [--seeds 3] [--dataset data/kjv]
"""

import os

import keras

from examples.paper import common, protocol, verdicts

from keras_mi import MILSTM, MLSTM
from keras_mi.models import compile_language_model

NAME = "lstm_family"
MODELS = {
    "LSTM": lambda units: MILSTM(units, integration="additive", return_sequences=True,
                                 name="recurrent"),
    "MI-LSTM": lambda units: MILSTM(units, beta1_initializer=keras.initializers.Constant(0.5),
                                    beta2_initializer=keras.initializers.Constant(0.5),
                                    return_sequences=True, name="recurrent"),
    "mLSTM": lambda units: MLSTM(units, return_sequences=True, name="recurrent"),
}
SMALL = dict(protocol.DEFAULTS, seeds=3, learning_rate=2e-3, clipnorm=1.0)
# text8: about 4M parameters (an LSTM of about 1000 units on 27 characters),
# Adam from the best of {0.002, 0.001, 0.0005}, halved on a 2-epoch plateau.
PAPER_SCALE = dict(SMALL, units=1000, steps=500_000, eval_every=5_000,
                   convergence_window=50_000, sequence_length=180, batch_size=128)


def build(label, units, args, vocabulary):
    inputs = keras.Input((args.sequence_length,), dtype="int32", name="characters")
    x = common.OneHot(vocabulary, name="one_hot")(inputs)
    x = MODELS[label](units)(x)
    logits = keras.layers.Dense(vocabulary, name="logits")(x)
    return keras.Model(inputs, logits, name="lm")


def _arguments(parser):
    protocol.add_arguments(parser)
    parser.add_argument("--clipnorm", type=float, help="gradient clipping norm")


def train(args, out, corpus, validation, test):
    """The runs, and the record's protocol part."""
    vocabulary = corpus.characters.size
    budget = common.trainable_parameters(build("LSTM", args.units, args, vocabulary))
    sizes = {}
    for label in MODELS:
        units = common.units_for_budget(lambda u: build(label, u, args, vocabulary), budget)
        sizes[label] = {"units": units, "parameters": common.trainable_parameters(
            build(label, units, args, vocabulary))}
    keras.utils.clear_session()
    runs = []
    for seed in range(args.seeds):
        for label in MODELS:
            common.set_seed(seed)
            model = build(label, sizes[label]["units"], args, vocabulary)
            compile_language_model(model, args.learning_rate, args.clipnorm)
            result = protocol.trained_and_tested(model, args, corpus.stream(seed), validation,
                                                 test)
            runs.append({"model": label, "seed": seed, **sizes[label], **result})
            common.save_partial(out, NAME, runs)
            protocol.say(runs[-1], f"{label} ({runs[-1]['units']} units)")
    return runs, {"protocol": dict(protocol.settings_note(args, keras_initialisers=True),
                                   vocabulary_size=vocabulary)}


def summarize(args, runs, out):
    """The table, the verdicts and the figures from the runs (also `--from-json`)."""
    budget = next(r["parameters"] for r in runs if r["model"] == "LSTM")  # at --units
    return protocol.summarize_models(
        runs, MODELS, ("units", "parameters"), os.path.join(out, f"{NAME}.png"),
        f"validation BPC at ~{budget:,} parameters (mean ± std over {args.seeds} seeds)",
        judge(runs))


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    return {
        "milstm_vs_lstm": (verdicts.CRITERIA["milstm_vs_lstm"],
                           verdicts.lower_than(runs, "MI-LSTM", "LSTM")),
        "mlstm_vs_lstm": (verdicts.CRITERIA["mlstm_vs_lstm"],
                          verdicts.lower_than(runs, "mLSTM", "LSTM")),
    }


def main(argv=None):
    return protocol.experiment(NAME, __doc__, argv, SMALL, PAPER_SCALE, _arguments, train,
                               summarize)


if __name__ == "__main__":
    main()
