"""The C++ loops of the fused recurrences on PyTorch (CPU, float32).

`csrc/mi_recurrence.cpp` runs the forward and backward loops of every cell
kind with one pass of elementwise work per step, vectorized by the compiler,
and the recurrent products by oneDNN's packed weights. It is compiled on
first use with `torch.utils.cpp_extension` (a C++ compiler and ninja are
needed; about 30-100 s, once per environment, announced on stderr, cached
under `~/.cache/keras_mi/torch_extensions` in a folder keyed by the source,
the flags, torch, Python, the environment's paths and the CPU). Where it cannot be built or loaded,
`load()` returns `None` and the fused recurrence runs its eager PyTorch
loops instead (same numbers, slower). `KERAS_MI_TORCH_KERNELS=0` turns it
off.
"""

import hashlib
import os
import shutil
import sys
import warnings

import torch

SOURCE = os.path.join(os.path.dirname(__file__), "csrc", "mi_recurrence.cpp")
FLAGS = [
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fopenmp-simd",
]
_STATE = {}


def _build_name():
    """A name unique to the source, the flags, torch and this CPU, so that a
    cache shared between machines never loads a mismatched build."""
    digest = hashlib.sha256()
    with open(SOURCE, "rb") as handle:
        digest.update(handle.read())
    digest.update(" ".join(FLAGS).encode())
    digest.update(torch.__version__.encode())
    digest.update(sys.version.encode())
    # The build file holds this environment's paths (torch's headers and
    # libraries): each environment gets its own build, or two environments
    # on one machine would rebuild it in turn.
    digest.update(os.path.dirname(torch.__file__).encode())
    digest.update(sys.prefix.encode())
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
        digest.update(flags.encode())
    except OSError:
        pass
    return "keras_mi_recurrence_" + digest.hexdigest()[:16]


def _ensure_ninja():
    """Puts the ninja of this Python environment on PATH if none is."""
    if shutil.which("ninja") is None:
        bin_dir = os.path.dirname(sys.executable)
        if os.path.exists(os.path.join(bin_dir, "ninja")):
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def load():
    """The compiled module, or `None` where it is unavailable."""
    if "module" in _STATE:
        return _STATE["module"]
    module = None
    if os.environ.get("KERAS_MI_TORCH_KERNELS", "1") != "0":
        try:
            from torch.utils import cpp_extension

            _ensure_ninja()
            name = _build_name()
            directory = os.path.join(
                os.path.expanduser("~"), ".cache", "keras_mi", "torch_extensions", name
            )
            os.makedirs(directory, exist_ok=True)
            if not any(f.endswith(".so") for f in os.listdir(directory)):
                print(
                    "keras_mi: building the C++ recurrence loops for PyTorch (once per "
                    f"environment, about 30-100 s) in {directory}",
                    file=sys.stderr, flush=True,
                )
            module = cpp_extension.load(
                name,
                [SOURCE],
                extra_cflags=FLAGS,
                build_directory=directory,
                verbose=False,
            )
        except Exception as error:  # noqa: BLE001 - any build failure
            warnings.warn(
                "keras_mi could not build its C++ recurrence kernels for "
                f"PyTorch ({type(error).__name__}: {error}); the fused "
                "recurrences run their eager PyTorch loops instead.",
                RuntimeWarning,
                stacklevel=2,
            )
    _STATE["module"] = module
    return module
