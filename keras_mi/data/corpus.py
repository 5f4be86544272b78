"""Where text comes from: local files, and the corpus embedded in every Python.

The embedded default corpus is the source code of the running interpreter's
standard library: present on any machine that runs keras-mi, needing no
download, and large (tens of MB of text). Files are assigned to the train,
validation and test splits by a hash of their path relative to the library,
so the split is the same on every machine with the same Python version.
"""

import glob
import os
import sysconfig
import zlib

# Text is read as bytes: 256 symbols.
VOCABULARY_SIZE = 256

SPLITS = ("train", "validation", "test")
# Percent of files in each split, by hash bucket.
SPLIT_BUCKETS = {"train": range(0, 90), "validation": range(90, 95), "test": range(95, 100)}


def split_of(relative_path):
    """The split a file belongs to, from a stable hash of its relative path."""
    bucket = zlib.crc32(relative_path.replace(os.sep, "/").encode()) % 100
    return next(name for name, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def split_files(paths, root, split):
    """The paths (relative to `root` for hashing) that belong to `split`."""
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument `split`, expected one of "
            f"{SPLITS}, got split={split!r}."
        )
    return [p for p in paths if split_of(os.path.relpath(p, root)) == split]


def embedded_corpus_files(split="train"):
    """The standard-library `.py` files of the running Python in one split.

    Returns:
        A sorted list of absolute paths.
    """
    root = sysconfig.get_paths()["stdlib"]
    paths = sorted(
        p
        for p in glob.glob(os.path.join(root, "**", "*.py"), recursive=True)
        if "site-packages" not in os.path.relpath(p, root).split(os.sep)
    )
    files = split_files(paths, root, split)
    if not files:
        raise ValueError(
            f"The embedded corpus has no files in split {split!r}: no Python "
            f"standard-library sources were found under {root!r}."
        )
    return files


def text_files(path):
    """The files named by a file path, a directory (searched recursively) or a
    glob pattern, sorted. Raises `ValueError` if nothing matches."""
    if os.path.isdir(path):
        found = [
            p
            for p in glob.glob(os.path.join(path, "**", "*"), recursive=True)
            if os.path.isfile(p)
        ]
    elif any(ch in path for ch in "*?["):
        found = [p for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
    elif os.path.isfile(path):
        found = [path]
    else:
        raise ValueError(
            f"Received an invalid value for argument `path`: {path!r} is not "
            "an existing file, directory or glob pattern."
        )
    if not found:
        raise ValueError(
            f"Received an invalid value for argument `path`: no files match {path!r}."
        )
    return sorted(found)
