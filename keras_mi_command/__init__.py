"""The entry point of the `keras-mi` command.

It lives outside the `keras_mi` package on purpose: importing `keras_mi`
imports Keras, and with it TensorFlow, which prints its start-up lines (CUDA
probing, CPU-feature notes) before any log level applies. The command first
imports TensorFlow quietly, then `keras_mi`.
"""

import os
import sys


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


def main(argv=None):
    quiet_tensorflow()
    from keras_mi import cli

    return cli.main(argv)
