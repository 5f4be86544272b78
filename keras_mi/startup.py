"""TensorFlow's start-up lines, kept out of the `keras-mi` command's output.

Importing Keras imports TensorFlow, which prints its start-up lines (CUDA
probing, CPU-feature notes) before any log level applies. This module imports
nothing but the standard library, so `keras_mi/__init__.py` runs it first:
when the process is the command (`keras-mi ...` or `python -m keras_mi ...`)
TensorFlow is imported quietly before Keras; a program that imports
`keras_mi` keeps TensorFlow's output as it is.
"""

import os
import sys

COMMAND = "keras-mi"
MODULE = "keras_mi"


def is_command():
    """Whether this process runs the `keras-mi` command: its script, or the
    package with `python -m keras_mi`."""
    if os.path.basename(sys.argv[0] if sys.argv else "") in (COMMAND, f"{COMMAND}.exe"):
        return True
    arguments = list(getattr(sys, "orig_argv", ()))
    return any(
        argument == "-m" and arguments[i + 1:i + 2] == [MODULE]
        for i, argument in enumerate(arguments)
    )


def quiet_tensorflow():
    """Imports TensorFlow with its start-up lines sent to /dev/null: they are
    not for the user of the command. Later warnings and errors show as
    usual. Does nothing if TensorFlow is imported already."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import tensorflow as tf

            tf.constant(0)  # the device set-up logs too
        except ImportError:  # a set-up without TensorFlow: nothing to quiet
            pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
