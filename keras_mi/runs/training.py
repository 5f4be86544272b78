"""Training runs: one model (`train`), or several cells on the same data and
parameter budget (`compare`). Progress goes to the `keras_mi.runs` logger;
the results are returned."""

import contextlib
import logging
import os

import numpy as np

from keras_mi import run_files
from keras_mi.runs import folders, inputs
from keras_mi.runs.config import TrainConfig
from keras_mi.validation import ArgumentError

log = logging.getLogger("keras_mi.runs")


def _check_config(config):
    if not isinstance(config, TrainConfig):
        raise TypeError(f"Received an invalid type for argument `config`, expected a "
                        f"TrainConfig, got config={config!r}.")


def train(config, run_dir, resume=False, overwrite=False, checkpoint_dir=None):
    """Builds, trains, saves and evaluates one model in `run_dir`.

    Writes there `model.keras`, `run.json` (the options), `history.csv`, the
    TensorBoard logs, the epoch checkpoints (in `checkpoint_dir`, default
    RUN_DIR/checkpoints) and, with a character vocabulary,
    `vocabulary.json`. `resume` continues an interrupted run after its last
    completed epoch; `overwrite` replaces a run already there.

    Returns `(model, history, results)`: the Keras history's dict, and the
    BPC of the validation and test splits (`test_steps` batches of each, or
    all of them).
    """
    import keras

    from keras_mi import distribution
    from keras_mi.data import VOCABULARY_SIZE, sources

    _check_config(config)
    data = config.data
    sources.check_dataset(data.dataset)
    keras.utils.set_random_seed(data.seed)
    checkpoint_dir = folders.checkpoint_folder(run_dir, checkpoint_dir)
    folders.check(run_dir, resume, overwrite, checkpoint_dir)
    vocabulary = inputs.build_vocabulary(data)
    inputs.check_splits(data, vocabulary)
    log.info(f"data: {data.dataset}: {sources.split_description(data.dataset)}")
    folders.prepare(run_dir, resume, checkpoint_dir)
    folders.make("run_dir", run_dir)
    folders.make("checkpoint_dir", checkpoint_dir)
    folders.record_or_check_options(config.recorded(), run_dir, resume)
    size = VOCABULARY_SIZE if vocabulary is None else vocabulary.size
    if vocabulary is not None:
        vocabulary.save(os.path.join(run_dir, folders.VOCABULARY_FILE))  # atomically
    engine = distribution.for_command(config.distribute)
    if engine is not None:
        log.info(f"distribution: {distribution.describe(engine)}")
    with contextlib.nullcontext() if engine is None else engine.scope():
        return _train_in_scope(config, run_dir, resume, checkpoint_dir, vocabulary, size)


def _train_in_scope(config, run_dir, resume, checkpoint_dir, vocabulary, size):
    import keras

    from keras_mi.models import char_language_model, compile_language_model

    data = config.data
    model = char_language_model(
        config.cell, config.units, config.layers, config.embedding_dim, vocabulary_size=size)
    compile_language_model(model, config.learning_rate, config.clipnorm)
    log.info(f"{model.name}: {model.count_params():,} parameters, "
             f"{size} symbols, backend {keras.backend.backend()}")
    done = folders.completed_epochs(run_dir) if resume else 0
    log_dir = os.path.join(run_dir, folders.LOGS)
    backup = os.path.join(run_dir, folders.BACKUP)
    callbacks = [
        run_files.HistoryLog(os.path.join(run_dir, folders.HISTORY_FILE), completed_epochs=done),
        keras.callbacks.TensorBoard(log_dir),
        run_files.EpochCheckpoint(os.path.join(checkpoint_dir, "epoch_{epoch:03d}.keras")),
    ]
    if config.monitors:
        callbacks += monitors(data, log_dir, vocabulary)
    # Last, so that an epoch counts as done once everything of it is written
    # (every file atomically, keras_mi.run_files): a run killed at any
    # moment resumes after its last complete epoch and redoes the one it
    # was in.
    callbacks.append(run_files.RunBackup(backup))
    batches = inputs.windows(data, "train", repeat=True, vocabulary=vocabulary)
    if done:
        # The stream goes on where the interrupted run left it: the resumed
        # run sees the batches the uninterrupted one would have seen.
        batches = batches.skip(done * config.steps_per_epoch)
        log.info(f"continuing after epoch {done}: the {done * config.steps_per_epoch:,} "
                 "training batches it saw are skipped")
    history = model.fit(
        batches,
        validation_data=inputs.windows(data, "validation", repeat=True, vocabulary=vocabulary),
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        validation_steps=config.validation_steps,
        callbacks=callbacks,
        verbose=config.verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    run_files.save_model(model, os.path.join(run_dir, folders.MODEL_FILE))
    # Only now: a run killed before its model was written resumes from it.
    run_files.remove_backup(backup)
    results = inputs.evaluate_splits(model, data, vocabulary, config.test_steps)
    return model, history.history, results


def monitors(data, log_dir, vocabulary):
    """The keras_mi monitors on a probe batch of 8 validation windows."""
    from keras_mi.callbacks import ActivationMonitor, GradientNormMonitor, ScaleMonitor

    x, y = next(iter(inputs.windows(data, "validation", repeat=True, vocabulary=vocabulary)))
    probe = (np.asarray(x)[:8], np.asarray(y)[:8])
    return [
        GradientNormMonitor(log_dir, probe),
        ActivationMonitor(log_dir, (probe[0],)),
        ScaleMonitor(log_dir, (probe[0],)),
    ]


def matched_units(cell, parameter_count, layers, embedding_dim, vocabulary_size):
    """The units for which `cell`'s model has the parameter count closest to
    `parameter_count` (the other sizes fixed)."""
    from keras_mi.models import char_language_model, units_for_parameter_count

    return units_for_parameter_count(
        lambda units: char_language_model(
            cell, units, layers, embedding_dim, vocabulary_size).count_params(),
        parameter_count,
    )


def compare(config, cells, run_dir, same_units=False, overwrite=False):
    """Trains each of `cells` in RUN_DIR/CELL on `config`'s data and
    budget: the first cell's model at `config.units` sets the parameter
    count, and the others get the units that match it (or
    `config.units`, with `same_units`). Writes RUN_DIR/comparison.json and
    RUN_DIR/learning_curves.png; returns the table's rows."""
    import keras

    from keras_mi.data import VOCABULARY_SIZE, sources
    from keras_mi.models import RECURRENT_LAYERS, char_language_model

    _check_config(config)
    sources.check_dataset(config.data.dataset)
    cells = list(cells)
    if not cells:
        raise ArgumentError("cells", "give at least one cell")
    for cell in cells:
        if cell not in RECURRENT_LAYERS:
            raise ArgumentError(
                "cells", f"{cell!r} is not one of {', '.join(sorted(RECURRENT_LAYERS))}")
    for cell in cells:  # before anything is trained
        folders.check(os.path.join(run_dir, cell), False, overwrite)
    folders.make("run_dir", run_dir)
    vocabulary = inputs.build_vocabulary(config.data)
    size = VOCABULARY_SIZE if vocabulary is None else vocabulary.size

    def parameters(cell, units):
        return char_language_model(
            cell, units, config.layers, config.embedding_dim, size).count_params()

    budget = parameters(cells[0], config.units)
    rows, curves = [], {}
    for position, cell in enumerate(cells, 1):
        units = config.units if same_units else matched_units(
            cell, budget, config.layers, config.embedding_dim, size)
        log.info(f"== {position}/{len(cells)}: {cell}, {units} units, "
                 f"{parameters(cell, units):,} parameters")
        level = log.level
        log.setLevel(logging.WARNING)  # one line per cell, not each run's
        try:
            model, history, results = train(
                config.replace(cell=cell, units=units), os.path.join(run_dir, cell),
                overwrite=overwrite)
        finally:
            log.setLevel(level)
        curves[cell] = history
        rows.append({
            "cell": cell,
            "units": units,
            "parameters": model.count_params(),
            "validation_bpc": results["validation"]["bpc"],
            "test_bpc": results["test"]["bpc"],
        })
        keras.utils.clear_session()
    plot_curves(curves, os.path.join(run_dir, "learning_curves.png"))
    run_files.write_json(os.path.join(run_dir, "comparison.json"),
                         {"rows": rows, "curves": curves}, indent=2)
    return rows


def plot_curves(curves, path):
    """Train and validation BPC per epoch of each run, in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for cell, history in curves.items():
        epochs = range(1, len(history["bpc"]) + 1)
        line = axis.plot(epochs, history["val_bpc"], marker="o", label=f"{cell} validation")
        # Markers on both: a one-epoch run is a point, not a line.
        axis.plot(
            epochs, history["bpc"], linestyle="--", marker="x", color=line[0].get_color(),
            label=f"{cell} train",
        )
    axis.set_xlabel("epoch")
    axis.set_ylabel("bits per character")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.grid(alpha=0.3)
    with run_files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
