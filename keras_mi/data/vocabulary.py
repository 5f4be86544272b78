"""A character vocabulary built from a training split, saved as JSON.

Id 0 is reserved for unknown characters (any character not seen in the
training split); known characters get ids 1..n, most frequent first (ties in
code-point order), so the mapping is deterministic.
"""

import collections
import json

import numpy as np
import tensorflow as tf

UNKNOWN_ID = 0
UNKNOWN_TEXT = "\ufffd"  # what an unknown id decodes to


class CharacterVocabulary:
    """Maps characters to ids and back; see the module docstring.

    Args:
        characters: the known characters, in id order (id = index + 1).

    Example:

    >>> vocabulary = CharacterVocabulary.build(["abca"])
    >>> vocabulary.encode("abz").tolist()
    [1, 2, 0]
    >>> vocabulary.decode([2, 1, 0])
    'ba\ufffd'
    """

    def __init__(self, characters):
        characters = list(characters)
        if len(set(characters)) != len(characters) or not all(
            isinstance(c, str) and len(c) == 1 for c in characters
        ):
            raise ValueError(
                "Received an invalid value for argument `characters`: expected "
                "distinct single characters."
            )
        self.characters = characters
        self._ids = {c: i + 1 for i, c in enumerate(characters)}

    @classmethod
    def build(cls, texts, max_size=None):
        """The vocabulary of an iterable of strings (or UTF-8 bytes)."""
        counts = collections.Counter()
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            counts.update(text)
        if not counts:
            raise ValueError("Cannot build a vocabulary: the training text is empty.")
        ordered = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        return cls(ordered[:max_size] if max_size else ordered)

    @property
    def size(self):
        """The number of ids, unknown included."""
        return len(self.characters) + 1

    def encode(self, text):
        return np.asarray([self._ids.get(c, UNKNOWN_ID) for c in text], np.int32)

    def decode(self, ids):
        return "".join(
            self.characters[i - 1] if 0 < i <= len(self.characters) else UNKNOWN_TEXT
            for i in np.asarray(ids).tolist()
        )

    def tf_encoder(self):
        """A function mapping a tf.string document to int32 ids."""
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant([ord(c) for c in self.characters], tf.int32),
                tf.range(1, self.size, dtype=tf.int32),
            ),
            default_value=UNKNOWN_ID,
        )

        def encode(text):
            codepoints = tf.strings.unicode_decode(
                text, "UTF-8", errors="replace", replacement_char=0xFFFD
            )
            return table.lookup(codepoints)

        return encode

    def save(self, path):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"characters": "".join(self.characters)}, handle, ensure_ascii=False)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as handle:
            return cls(list(json.load(handle)["characters"]))
