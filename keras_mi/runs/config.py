"""What a run is given: the data it reads and the model and training it
runs, as typed, checked configurations. The `keras-mi` command builds them
from its options; a program builds them directly.

    from keras_mi import runs

    config = runs.TrainConfig(cell="milstm", epochs=3, data=runs.DataConfig())
    results = runs.train(config, "runs/milstm")
"""

import dataclasses
from typing import Optional

from keras_mi import validation

VOCABULARIES = ("bytes", "characters")
DISTRIBUTIONS = ("none", "data", "model")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The text a run reads and how it is cut into batches.

    Args:
        dataset: "embedded" (the Python standard library's sources), a
            text file, directory or glob, or "tfds:NAME".
        data_dir: TensorFlow Datasets' `data_dir` for "tfds:NAME".
        text_feature: the text feature of a tfds dataset (default: its
            first Text feature).
        contiguous: row i of each batch continues row i of the previous one
            (no shuffling).
        vocabulary: "bytes" (256 symbols) or "characters" (those of the
            train split).
        max_vocabulary: keep the most frequent characters only.
        sequence_length: characters per window.
        batch_size: windows per batch.
        seed: the seed of the shuffling (and of the run's weights).
    """

    dataset: str = "embedded"
    data_dir: Optional[str] = None
    text_feature: Optional[str] = None
    contiguous: bool = False
    vocabulary: str = "bytes"
    max_vocabulary: Optional[int] = None
    sequence_length: int = 100
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.dataset, str):
            raise TypeError(f"Received an invalid type for argument `dataset`, expected a "
                            f"string, got dataset={self.dataset!r}.")
        validation.check_bool("contiguous", self.contiguous)
        validation.check_choice("vocabulary", self.vocabulary, VOCABULARIES)
        if self.max_vocabulary is not None:
            validation.check_positive_int("max_vocabulary", self.max_vocabulary)
        validation.check_positive_int("sequence_length", self.sequence_length)
        validation.check_positive_int("batch_size", self.batch_size)
        validation.check_seed("seed", self.seed, limit=2**32)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The model a run trains and how.

    Args:
        data: a `DataConfig`.
        cell: one of `keras_mi.models.RECURRENT_LAYERS`.
        units, layers, embedding_dim: the model's sizes.
        epochs, steps_per_epoch, validation_steps: the training's length.
        test_steps: batches of the validation and test splits evaluated
            after training (`None`: all of both).
        learning_rate, clipnorm: Adam's learning rate and gradient clipping.
        monitors: log the gradient, activation and scale monitors.
        distribute: "none", "data" or "model" (see docs/scaling.md).
        verbose: Keras' progress output (0, 1 or 2).
    """

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    cell: str = "milstm"
    units: int = 128
    layers: int = 1
    embedding_dim: int = 32
    epochs: int = 3
    steps_per_epoch: int = 300
    validation_steps: int = 30
    test_steps: Optional[int] = None
    learning_rate: float = 2e-3
    clipnorm: float = 1.0
    monitors: bool = True
    distribute: str = "none"
    verbose: int = 1

    def __post_init__(self):
        from keras_mi.models import RECURRENT_LAYERS

        if not isinstance(self.data, DataConfig):
            raise TypeError(f"Received an invalid type for argument `data`, expected a "
                            f"DataConfig, got data={self.data!r}.")
        validation.check_choice("cell", self.cell, tuple(sorted(RECURRENT_LAYERS)))
        for name in ("units", "layers", "embedding_dim", "epochs", "steps_per_epoch",
                     "validation_steps"):
            validation.check_positive_int(name, getattr(self, name))
        if self.test_steps is not None:
            validation.check_positive_int("test_steps", self.test_steps)
        validation.check_positive_float("learning_rate", self.learning_rate)
        validation.check_positive_float("clipnorm", self.clipnorm)
        validation.check_bool("monitors", self.monitors)
        validation.check_choice("distribute", self.distribute, DISTRIBUTIONS)
        validation.check_choice("verbose", self.verbose, (0, 1, 2))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def recorded(self):
        """The options that decide what the run computes, as written to its
        run.json and compared on resume (the same keys as the command's
        options, `no_monitors` included, so files written before read the
        same)."""
        options = dataclasses.asdict(self.data)
        options.update({
            field.name: getattr(self, field.name) for field in dataclasses.fields(self)
            if field.name not in ("data", "monitors", "verbose", "test_steps")
        })
        options["no_monitors"] = not self.monitors
        return dict(sorted(options.items()))
