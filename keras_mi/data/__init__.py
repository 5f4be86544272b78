"""Character-level language-model data as `tf.data` pipelines."""

from keras_mi.data.corpus import embedded_corpus_files, split_files, text_files
from keras_mi.data.pipeline import VOCABULARY_SIZE, byte_windows, decode_bytes

__all__ = [
    "VOCABULARY_SIZE",
    "byte_windows",
    "decode_bytes",
    "embedded_corpus_files",
    "split_files",
    "text_files",
]
