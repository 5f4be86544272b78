"""The `keras-mi` command: train, evaluate and sample character-level models.

    keras-mi train --cell milstm --epochs 3       # on the embedded corpus
    keras-mi evaluate runs/milstm
    keras-mi sample runs/milstm --temperature 0.7
    keras-mi compare --cells milstm,lstm --epochs 3
"""

import argparse
import logging
import os
import re
import sys

import numpy as np

from keras_mi import runs
from keras_mi.startup import quiet_tensorflow
from keras_mi.validation import ArgumentError

# Numeric options, checked when the command line is parsed (argparse
# prints `argument --NAME: ...` with the command's usage).


def _option_type(convert, accepted, expected):
    """An argparse type: `convert(text)` if it converts and is accepted,
    else an error that says what was `expected`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accepted(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


positive_int = _option_type(int, lambda v: v >= 1, "an integer of at least 1")
seed_int = _option_type(int, lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)")
positive_float = _option_type(float, lambda v: np.isfinite(v) and v > 0,
                              "a finite number above 0")


POSITIONAL = {"model"}  # arguments the command takes by position, not as --NAME


def option_name(argument):
    """The command's name for a configuration's argument: `run_dir` ->
    `--run-dir`, `model` -> `model`."""
    return argument if argument in POSITIONAL else "--" + argument.replace("_", "-")


def command_message(error):
    """An `ArgumentError` in the command's words: `argument --NAME: reason`,
    with the arguments the reason names written as options."""
    reason = re.sub(r"`(\w+)`", lambda match: option_name(match.group(1)), error.reason)
    return f"argument {option_name(error.argument)}: {reason}"


def data_config(args):
    return runs.DataConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        text_feature=args.text_feature,
        contiguous=args.contiguous,
        vocabulary=getattr(args, "vocabulary", "bytes"),
        max_vocabulary=getattr(args, "max_vocabulary", None),
        sequence_length=args.sequence_length,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def train_config(args, cell=None):
    return runs.TrainConfig(
        data=data_config(args),
        cell=cell or args.cell,
        units=args.units,
        layers=args.layers,
        embedding_dim=args.embedding_dim,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        test_steps=args.test_steps,
        learning_rate=args.learning_rate,
        clipnorm=args.clipnorm,
        monitors=not args.no_monitors,
        distribute=getattr(args, "distribute", "none"),
        verbose=args.verbose,
    )


def _print_evaluation(results):
    print(f"{'split':10s} {'BPC':>7s} {'characters':>12s}")
    for split, row in results.items():
        extent = "all of the split" if row["whole_split"] else "first batches"
        print(
            f"{split:10s} {row['bpc']:7.4f} {row['characters']:12,d}  "
            f"({row['batches']} batches, {extent})"
        )


def train(args):
    run_dir = args.run_dir or os.path.join("runs", args.cell)
    _, _, results = runs.train(train_config(args), run_dir, resume=args.resume,
                               overwrite=args.overwrite, checkpoint_dir=args.checkpoint_dir)
    _print_evaluation(results)
    print(f"model saved to {os.path.join(run_dir, runs.MODEL_FILE)}")
    print(f"open the logs with: {runs.tensorboard_command(os.path.join(run_dir, 'logs'))}")
    return results


def compare(args):
    """Trains several cells on the same data and budget; table and plot."""
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    rows = runs.compare(train_config(args, cell=cells[0] if cells else None), cells,
                        args.run_dir, same_units=args.same_units, overwrite=args.overwrite)
    print(f"{'cell':8s} {'units':>6s} {'parameters':>11s} {'val BPC':>8s} {'test BPC':>9s}")
    for row in rows:
        print(
            f"{row['cell']:8s} {row['units']:6d} {row['parameters']:11,d} "
            f"{row['validation_bpc']:8.4f} {row['test_bpc']:9.4f}"
        )
    print(f"learning curves saved to {os.path.join(args.run_dir, 'learning_curves.png')}")
    return rows


def evaluate(args):
    result = runs.evaluate(args.model, data_config(args), args.split, args.steps)
    extent = "all of the split" if args.steps is None else f"{args.steps} batches"
    print(f"{args.split} BPC: {result['bpc']:.4f} ({extent})")
    return result


def sample(args):
    def write(piece):
        sys.stdout.write(piece)
        sys.stdout.flush()

    text = runs.sample(args.model, args.prime, args.length, args.temperature,
                       seed=args.seed, on_text=write)
    sys.stdout.write("\n")
    return text


def _add_data_arguments(parser, vocabulary=True, seed=True):
    parser.add_argument(
        "--dataset",
        default="embedded",
        help="'embedded' (the Python standard library's sources), a text "
        "file, directory or glob, or tfds:NAME (a prepared TensorFlow "
        "Datasets dataset)",
    )
    parser.add_argument("--data-dir", default=None, help="tfds data_dir for tfds:NAME")
    parser.add_argument(
        "--text-feature",
        default=None,
        help="the text feature of a tfds dataset (default: its first Text feature)",
    )
    parser.add_argument(
        "--contiguous",
        action="store_true",
        help="contiguous (stateful-friendly) batches: row i of each batch "
        "continues row i of the previous one; no shuffling",
    )
    if vocabulary:
        parser.add_argument(
            "--vocabulary",
            choices=["bytes", "characters"],
            default="bytes",
            help="bytes (256 symbols) or the characters of the train split "
            "(saved as vocabulary.json in the run directory)",
        )
        parser.add_argument(
            "--max-vocabulary",
            type=positive_int,
            default=None,
            help="keep the most frequent characters only (others become unknown)",
        )
    parser.add_argument("--sequence-length", type=positive_int, default=100, help="characters per window")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="windows per batch")
    if seed:
        parser.add_argument("--seed", type=seed_int, default=0, help="random seed")


class _Output(logging.Handler):
    """The runs' progress as the command prints it: information on standard
    output, warnings on standard error (as `warning: ...`); the streams are
    looked up at each line, so that a caller's redirection holds."""

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            print(f"warning: {record.getMessage()}", file=sys.stderr, flush=True)
        else:
            print(record.getMessage(), flush=True)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help, unless the help says its
    default itself or there is none to say (None, False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def build_parser():
    from keras_mi.models import RECURRENT_LAYERS

    cells = sorted(RECURRENT_LAYERS)
    formatter = _HelpFormatter
    parser = argparse.ArgumentParser(
        prog="keras-mi", description=__doc__.split("\n")[0], formatter_class=formatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_model_arguments(p):
        p.add_argument("--units", type=positive_int, default=128, help="units per recurrent layer")
        p.add_argument("--layers", type=positive_int, default=1, help="stacked recurrent layers")
        p.add_argument("--embedding-dim", type=positive_int, default=32, help="size of the character embedding")
        p.add_argument("--epochs", type=positive_int, default=3, help="training epochs")
        p.add_argument("--steps-per-epoch", type=positive_int, default=300, help="training batches per epoch")
        p.add_argument(
            "--validation-steps", type=positive_int, default=30,
            help="validation batches at the end of each epoch",
        )
        p.add_argument(
            "--test-steps", type=positive_int, default=None,
            help="batches of the validation and test splits evaluated after "
            "training (default: all of both)",
        )
        p.add_argument("--learning-rate", type=positive_float, default=2e-3, help="Adam's learning rate")
        p.add_argument("--clipnorm", type=positive_float, default=1.0, help="gradient norm clipping")
        p.add_argument(
            "--verbose", type=int, choices=[0, 1, 2], default=1,
            help="Keras' progress output: 0 none, 1 progress bar, 2 one line per epoch",
        )
        p.add_argument(
            "--overwrite", action="store_true",
            help="replace a run already in the run directory (without it, such a run "
            "is never written over)",
        )
        p.add_argument(
            "--no-monitors", action="store_true",
            help="do not log the keras_mi gradient/activation/scale monitors",
        )
        _add_data_arguments(p)

    p = commands.add_parser(
        "train", help="train a character-level language model", formatter_class=formatter
    )
    p.add_argument("--cell", choices=cells, default="milstm", help="the recurrent cell")
    p.add_argument("--run-dir", default=None, help="where everything is written (default: runs/CELL)")
    p.add_argument("--checkpoint-dir", default=None, help="default: RUN_DIR/checkpoints")
    p.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run in RUN_DIR after its last completed epoch",
    )
    p.add_argument(
        "--distribute", choices=["none", "data", "model"], default="none",
        help="train on all visible devices: 'data' replicates the model "
        "(keras.distribution.DataParallel on JAX, tf.distribute.MirroredStrategy "
        "on TensorFlow), 'model' shards the MI weights on their unit axis "
        "(keras.distribution.ModelParallel, JAX); see docs/scaling.md",
    )
    add_model_arguments(p)
    p.set_defaults(func=train)

    p = commands.add_parser(
        "compare", help="train several cells on the same data and parameter budget",
        formatter_class=formatter,
    )
    p.add_argument(
        "--cells", default="milstm,lstm",
        help=f"comma-separated cells among {', '.join(cells)}; the first sets the parameter budget",
    )
    p.add_argument(
        "--same-units", action="store_true",
        help="give every cell --units instead of matching the parameter count",
    )
    p.add_argument("--run-dir", default=os.path.join("runs", "compare"), help="where the runs, table and plot go")
    add_model_arguments(p)
    p.set_defaults(func=compare)

    p = commands.add_parser(
        "evaluate", help="bits per character of a saved model", formatter_class=formatter
    )
    p.add_argument("model", help="a run directory (its model.keras) or a .keras file")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test", help="the split evaluated")
    p.add_argument("--steps", type=positive_int, default=None, help="batches evaluated (default: all of the split)")
    _add_data_arguments(p, vocabulary=False)
    p.set_defaults(func=evaluate)

    p = commands.add_parser(
        "sample", help="generate text from a saved model", formatter_class=formatter
    )
    p.add_argument("model", help="a run directory (its model.keras) or a .keras file")
    p.add_argument("--length", type=positive_int, default=200, help="characters to generate")
    p.add_argument(
        "--temperature", type=positive_float, default=0.8,
        help="sampling temperature: lower is more conservative",
    )
    p.add_argument("--prime", default="def ", help="the text the generation continues")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed of the sampling")
    p.set_defaults(func=sample)
    return parser, commands


def main(argv=None):
    parser, commands = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = commands.choices[args.command]
    if extra:
        # Report it with the command's own usage, not the top-level one.
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    quiet_tensorflow()  # where main is called directly, not by the command
    logger = logging.getLogger("keras_mi.runs")
    output, level, propagate = _Output(), logger.level, logger.propagate
    logger.addHandler(output)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        args.func(args)
    except ArgumentError as error:
        print(f"keras-mi {args.command}: error: {command_message(error)}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"keras-mi {args.command}: error: {error}", file=sys.stderr)
        return 2
    finally:
        logger.removeHandler(output)
        logger.setLevel(level)
        logger.propagate = propagate
    return 0


if __name__ == "__main__":
    sys.exit(main())
