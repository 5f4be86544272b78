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
        """The vocabulary of an iterable of strings (or UTF-8 bytes): all
        its characters, or the `max_size` most frequent (a positive int)."""
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer))
            or max_size < 1
        ):
            raise ValueError(
                f"Received an invalid value for argument `max_size`: {max_size!r}. "
                "Expected None (all characters) or a positive integer."
            )
        counts = collections.Counter()
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            counts.update(text)
        if not counts:
            raise ValueError("Cannot build a vocabulary: the training text is empty.")
        ordered = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        return cls(ordered if max_size is None else ordered[:max_size])

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
        """Writes the vocabulary as JSON, atomically (a temporary file, then
        a rename): a reader never finds half of it."""
        from keras_mi import run_files

        run_files.write_json(path, {"characters": "".join(self.characters)},
                             ensure_ascii=False)

    @classmethod
    def load(cls, path):
        """The vocabulary `save` wrote to `path`; a `ValueError` naming the
        file when it is not one."""
        try:
            with open(path, encoding="utf-8") as handle:
                value = json.load(handle)
        except OSError as error:
            raise ValueError(f"Cannot read the vocabulary file {path!r}: "
                             f"{error.strerror or error}.") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"The vocabulary file {path!r} is damaged: it is not the JSON "
                             f"a CharacterVocabulary saves ({error}).") from None
        if not isinstance(value, dict) or not isinstance(value.get("characters"), str):
            raise ValueError(
                f"The vocabulary file {path!r} is not a CharacterVocabulary's: expected a "
                'JSON object {"characters": "..."}, received '
                f"{type(value).__name__}{' with keys ' + str(sorted(value)) if isinstance(value, dict) else ''}.")
        return cls(list(value["characters"]))
