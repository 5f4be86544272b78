"""Character-level language-model data as `tf.data` pipelines."""

from keras_mi.data.corpus import embedded_corpus_files, split_files, text_files
from keras_mi.data.pipeline import (
    VOCABULARY_SIZE,
    byte_windows,
    decode_bytes,
    file_documents,
    symbol_stream,
    windows,
)
from keras_mi.data.tfds_source import tfds_documents
from keras_mi.data.vocabulary import CharacterVocabulary

__all__ = [
    "VOCABULARY_SIZE",
    "CharacterVocabulary",
    "byte_windows",
    "decode_bytes",
    "embedded_corpus_files",
    "file_documents",
    "split_files",
    "symbol_stream",
    "text_files",
    "tfds_documents",
    "windows",
]
