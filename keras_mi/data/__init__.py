"""Character-level language-model data as `tf.data` pipelines, or as
NumPy arrays of windows (`split_symbols`, `random_windows`,
`spread_windows`).

TensorFlow is imported when a pipeline is first used, not with the package
(a model on the JAX or PyTorch backend that only needs `VOCABULARY_SIZE`
does not pull TensorFlow in).
"""

import importlib

from keras_mi.data.corpus import (
    VOCABULARY_SIZE,
    embedded_corpus_files,
    split_files,
    text_files,
)

# Public name -> the module that defines it (imported on first access).
_LAZY = {
    "random_windows": "arrays",
    "split_symbols": "arrays",
    "spread_windows": "arrays",
    "window_arrays": "arrays",
    "byte_windows": "pipeline",
    "decode_bytes": "pipeline",
    "file_documents": "pipeline",
    "symbol_stream": "pipeline",
    "windows": "pipeline",
    "tfds_documents": "tfds_source",
    "CharacterVocabulary": "vocabulary",
    "check_dataset": "sources",
    "dataset_documents": "sources",
    "dataset_files": "sources",
}

__all__ = [
    "VOCABULARY_SIZE",
    "CharacterVocabulary",
    "byte_windows",
    "check_dataset",
    "dataset_documents",
    "dataset_files",
    "decode_bytes",
    "embedded_corpus_files",
    "file_documents",
    "random_windows",
    "split_files",
    "split_symbols",
    "spread_windows",
    "symbol_stream",
    "text_files",
    "tfds_documents",
    "window_arrays",
    "windows",
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"keras_mi.data.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_mi.data' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
