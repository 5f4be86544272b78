"""What the native loops (csrc/mi_core.h) take, for every binding: the codes
of the cell kinds and activations, the matrices of each kind in the order
the loops index them, which recurrences they cover, the coefficients of
Eq. 4 as (G,) vectors; and the build of the JAX and TensorFlow bindings
(PyTorch's is built by `torch.utils.cpp_extension`, torch_kernels.py)."""

import hashlib
import os
import shutil
import subprocess
import sys
import warnings
from numbers import Number

KINDS = {"rnn": 0, "lstm": 1, "gru": 2, "mlstm": 3}
ACTIVATIONS = {"tanh": 0, "sigmoid": 1, "relu": 2, "linear": 3}


def matrices(spec):
    """The names of the matrices, by the loops' index."""
    if spec.kind == "mlstm":
        return ("W", "U", "Wmx", "Wmh")
    if spec.kind == "gru" and not spec.reset_after:
        return ("W", "U_zr", "U_h")
    return ("W", "U")


def covers(spec):
    """Whether the loops run `spec`'s activations (any of the RNN's; tanh
    and a sigmoid gate for the others)."""
    return spec.kind == "rnn" or (
        spec.activation == "tanh" and spec.recurrent_activation == "sigmoid")


def float32_call(xs, states, w, float32):
    """Whether a call gives the input sequence `x` (not its projections) and
    holds every array in `float32` (the framework's float32 dtype)."""
    if "x" not in xs:
        return False
    arrays = [xs["x"], *states, *(v for v in w.values() if hasattr(v, "dtype"))]
    return all(a.dtype == float32 for a in arrays)


def coefficients(spec, w, width, full):
    """alpha, beta1, beta2 and b as (width,) vectors: those of `w`, and the
    constants of the fixed modes made by `full(width, value)`."""
    values = []
    for value in spec.coefficients(w):
        if value is None or isinstance(value, Number):
            value = full(width, float(value or 0.0))
        values.append(value)
    return values


CSRC = os.path.join(os.path.dirname(__file__), "csrc")
# The loops' optimisation flags (those of PyTorch's build, torch_kernels).
OPTIMISE = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"]


def compiled_library(prefix, source, arguments, keyed_by, framework):
    """The path of `source` (in csrc) compiled with the C++ compiler
    (`$CXX`, else `c++`) into a shared library with `arguments` (include
    and link flags), built once and cached under
    `~/.cache/keras_mi/<prefix>` in a file keyed by the sources, the
    arguments, `keyed_by` (the framework's versions), Python, the
    environment and the CPU. Raises `RuntimeError` where it cannot build."""
    source = os.path.join(CSRC, source)
    digest = hashlib.sha256()
    headers = sorted(os.path.join(CSRC, name) for name in os.listdir(CSRC) if name.endswith(".h"))
    for path in (source, *headers):
        with open(path, "rb") as handle:
            digest.update(handle.read())
    for part in (*arguments, *keyed_by, sys.version, sys.prefix):
        digest.update(str(part).encode())
    try:
        with open("/proc/cpuinfo") as handle:
            digest.update(next((line for line in handle if line.startswith("flags")), "").encode())
    except OSError:
        pass
    directory = os.path.join(os.path.expanduser("~"), ".cache", "keras_mi", prefix)
    path = os.path.join(directory, f"keras_mi_{prefix}_{digest.hexdigest()[:16]}.so")
    if os.path.exists(path):
        return path
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C++ compiler ({compiler!r}) on PATH")
    os.makedirs(directory, exist_ok=True)
    print(f"keras_mi: building the C++ recurrence loops for {framework} (once per "
          f"environment, about 15-60 s) in {directory}", file=sys.stderr, flush=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    result = subprocess.run(
        [compiler, *OPTIMISE, "-shared", "-fPIC", "-w", source, "-o", temporary, *arguments],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    os.replace(temporary, path)
    return path


def loaded(state, switch, framework, fallback, build, key="library"):
    """`build()`'s library, built and loaded once per process (kept in
    `state[key]`), or `None` where the environment variable `switch` is
    "0" or the build fails: a `RuntimeWarning` then says why, and that the
    fused recurrences run `fallback` instead."""
    if key in state:
        return state[key]
    library = None
    if os.environ.get(switch, "1") != "0":
        try:
            library = build()
        except Exception as error:  # noqa: BLE001 - any build or load failure
            warnings.warn(
                f"keras_mi could not build its C++ recurrence loops for {framework} "
                f"({type(error).__name__}: {error}); the fused recurrences run "
                f"{fallback} instead.", RuntimeWarning, stacklevel=3)
    state[key] = library
    return library
