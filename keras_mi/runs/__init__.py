"""Runs of character-level language models, as library functions: `train`
one model, `compare` several cells on one parameter budget, `evaluate` and
`sample` a saved one. Each takes typed, checked configurations
(`TrainConfig`, `DataConfig`), raises `keras_mi.validation.ArgumentError`
(a `ValueError`) naming the argument at fault, reports progress to the
`keras_mi.runs` logger and returns its results. The `keras-mi` command
(`keras_mi.cli`) parses options into these calls and prints what they
return.
"""

from keras_mi.runs.config import DataConfig, TrainConfig
from keras_mi.runs.folders import MODEL_FILE, VOCABULARY_FILE, model_path, tensorboard_command
from keras_mi.runs.inputs import windows
from keras_mi.runs.saved import evaluate, load_model, load_vocabulary, sample
from keras_mi.runs.training import compare, matched_units, plot_curves, train

__all__ = [
    "DataConfig",
    "MODEL_FILE",
    "TrainConfig",
    "VOCABULARY_FILE",
    "compare",
    "evaluate",
    "load_model",
    "load_vocabulary",
    "matched_units",
    "model_path",
    "plot_curves",
    "sample",
    "tensorboard_command",
    "train",
    "windows",
]
