"""The C++ loops of the fused recurrences on PyTorch (CPU, float32).

`csrc/mi_core.h` holds the loops, framework-neutral (raw buffers; the
products and the threads are the binding's): the forward and backward loops
of every cell kind with one pass of elementwise work per step, vectorized by
the compiler. `csrc/mi_recurrence.cpp` binds them for PyTorch: tensors in
and out, the recurrent products by oneDNN's packed weights, threads by
ATen. It is compiled on first use with `torch.utils.cpp_extension` (a C++
compiler and ninja are needed; about 30-100 s, once per environment,
announced on stderr, cached under `~/.cache/keras_mi/torch_extensions` in a
folder keyed by the sources, the flags, torch, Python, the environment's
paths and the CPU). Where it cannot be built or loaded, `load()` returns
`None` and the fused recurrence runs its eager PyTorch loops instead (same
numbers, slower). `KERAS_MI_TORCH_KERNELS=0` turns it off.
"""

import collections
import contextlib
import hashlib
import os
import shutil
import sys

import torch

from keras_mi.backend import native, recurrence

# The buffer pool's default budget (KERAS_MI_BUFFER_POOL_MB sets another).
POOL_MEGABYTES = 512
SOURCE = os.path.join(os.path.dirname(__file__), "csrc", "mi_recurrence.cpp")
# The framework-neutral loops the binding includes.
CORE = os.path.join(os.path.dirname(__file__), "csrc", "mi_core.h")
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
    for path in (SOURCE, CORE):
        with open(path, "rb") as handle:
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


@contextlib.contextmanager
def _ninja_on_path():
    """While the module builds, the ninja of this Python environment is on
    PATH if no other is (PyTorch's builder looks for it there); the user's
    PATH is as it was afterwards."""
    bin_dir = os.path.dirname(sys.executable)
    if shutil.which("ninja") is not None or not os.path.exists(os.path.join(bin_dir, "ninja")):
        yield
        return
    saved = os.environ.get("PATH")
    os.environ["PATH"] = bin_dir + os.pathsep + (saved or "")
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PATH"]
        else:
            os.environ["PATH"] = saved


def load():
    """The compiled module, or `None` where it is unavailable."""
    return native.loaded(_STATE, "KERAS_MI_TORCH_KERNELS", "PyTorch",
                         "their eager PyTorch loops", _build, key="module")


def _build():
    from torch.utils import cpp_extension

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
    with _ninja_on_path():
        return cpp_extension.load(
            name, [SOURCE], extra_cflags=FLAGS, build_directory=directory, verbose=False
        )


def pack(weight, example):
    """`weight` in oneDNN's packed layout for products `a @ weight`, or
    `None` where that path does not apply (or fails)."""
    if not (
        ONEDNN_PACKING
        and weight.dtype == torch.float32
        and example.dtype == torch.float32
        and weight.device.type == "cpu"
        and example.dim() == 2
    ):
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(
            weight.t().contiguous(), example.shape[0]
        )
    except (AttributeError, RuntimeError):
        return None


def _onednn_packing_works():
    """Whether PyTorch's private oneDNN operations that `pack` and the C++
    product (`mkldnn::_linear_pointwise`) call exist here and multiply
    right: checked once, on a small product, against `a @ w`."""
    if not torch.backends.mkldnn.is_available():
        return False
    operations = torch.ops.mkldnn
    try:
        if not all(hasattr(operations, name)
                   for name in ("_reorder_linear_weight", "_linear_pointwise")):
            return False
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(5, 3, generator=generator)
        w = torch.randn(3, 4, generator=generator)
        packed = operations._reorder_linear_weight(w.t().contiguous(), a.shape[0])
        product = operations._linear_pointwise(a, packed, None, "none", [], "")
        # A float32 product of three terms: rounding is ~1e-7 of the values.
        return bool(torch.allclose(product, a @ w, rtol=1e-5, atol=1e-5))
    except (AttributeError, RuntimeError, TypeError):
        return False


ONEDNN_PACKING = _onednn_packing_works()




# The C++ loops: codes of the cell kinds and activations, and the matrices
# each kind multiplies by (after `CellMath.prepare`), in the C++ order.
KERNEL_KINDS = native.KINDS
KERNEL_ACTIVATIONS = native.ACTIVATIONS
_kernel_matrices = native.matrices


class BufferPool:
    """Large buffers of the C++ loops, kept from one call to the next.

    A fresh buffer of tens of MB costs its page faults at every call (the
    C library returns large blocks to the system when they are freed): at
    (B, T, units) = (32, 100, 256) that was 12 ms of a 20 ms forward pass.
    Only buffers no caller ever sees are pooled (what the forward pass saves
    for the backward pass, and the backward pass' own scratch): at most
    `per_shape` of each shape and `max_bytes` in all, the shapes used least
    recently given up first. `clear()` frees them all
    (`keras_mi.backend.clear_buffers()`).
    """

    def __init__(self, per_shape=4, max_bytes=None):
        self.per_shape = per_shape
        if max_bytes is None:
            megabytes = os.environ.get("KERAS_MI_BUFFER_POOL_MB", str(POOL_MEGABYTES))
            max_bytes = int(float(megabytes) * 2**20)
        self.max_bytes = max_bytes
        self._free = collections.OrderedDict()  # least recently used first
        self.bytes = 0

    @staticmethod
    def _size(tensor):
        return tensor.numel() * tensor.element_size()

    def take(self, shape, like):
        key = (tuple(shape), like.dtype)
        free = self._free.get(key)
        if free:
            self._free.move_to_end(key)
            tensor = free.pop()
            self.bytes -= self._size(tensor)
            return tensor
        return like.new_empty(shape)

    def give(self, *tensors):
        for tensor in tensors:
            if tensor is None or self._size(tensor) > self.max_bytes:
                continue
            key = (tuple(tensor.shape), tensor.dtype)
            free = self._free.setdefault(key, [])
            self._free.move_to_end(key)
            if len(free) >= self.per_shape:
                continue
            free.append(tensor)
            self.bytes += self._size(tensor)
            while self.bytes > self.max_bytes:
                oldest = next(iter(self._free))
                dropped = self._free[oldest]
                self.bytes -= self._size(dropped.pop())
                if not dropped:
                    del self._free[oldest]

    def clear(self):
        self._free.clear()
        self.bytes = 0


POOL = BufferPool()


_covers_activations = native.covers


def native_loops_cover(spec, dtype):
    """Whether the C++ loops run a recurrence `spec` computing in `dtype`
    (else the fused recurrence runs its eager PyTorch loops)."""
    return _covers_activations(spec) and dtype == "float32" and load() is not None


def for_call(spec, xs, tensors):
    """The C++ module if it covers this call, else `None`."""
    if "x" not in xs or not _covers_activations(spec):
        return None
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in tensors):
        return None
    return load()


def _kernel_arguments(spec, xs, states, w):
    """What every call of the C++ loops takes: the inputs, the initial
    states and the coefficients of Eq. 4 as vectors."""
    x = xs["x"].contiguous()
    width = w["U"].shape[-1]
    coefficients = [value.contiguous() for value in native.coefficients(
        spec, w, width, lambda n, v: torch.full((n,), v, dtype=x.dtype))]
    c0 = states[1] if spec.state_count == 2 else None
    return x, states[0], c0, coefficients


def _leading_arguments(spec, x, h0, c0, matrices, packed):
    """The arguments the native forward and backward loops both begin with:
    the cell kind, the activation, the reset placement, the inputs, the
    initial states and the recurrent matrices (plain and packed)."""
    return (KERNEL_KINDS[spec.kind], KERNEL_ACTIVATIONS[spec.activation], spec.reset_after,
            x, h0, c0, matrices, packed)


@contextlib.contextmanager
def flushed_denormals(module):
    """Subnormal floats flushed to zero on this thread while a call of the
    C++ loops runs, with the weight gradients computed after them, as XLA
    and TensorFlow run their kernels (see `mi_core.h`); the thread's
    setting is put back after. The products that oneDNN or MKL run on their
    own threads are not covered: `torch.set_flush_denormal(True)` before
    the first computation covers those (docs/layers.md). Without the
    module (`None`: the eager loops run) it changes nothing."""
    if module is None:
        yield
        return
    previous = module.flush_denormals(True)
    try:
        yield
    finally:
        if not previous:
            module.flush_denormals(False)


def forward(module, spec, xs, states, w, keep, save):
    """`forward_pass` by the C++ loop: same results."""
    prepared = spec.math.prepare(spec, w)
    matrices = [prepared[name].contiguous() for name in _kernel_matrices(spec)]
    x, h0, c0, coefficients = _kernel_arguments(spec, xs, states, w)
    packed = [pack(matrix, x[0]) for matrix in matrices]
    steps, batch, units = x.shape[0], x.shape[1], h0.shape[-1]
    width = coefficients[0].shape[0]
    out = [None] * 4
    if save:
        out = [
            POOL.take((steps, batch, units), x) if spec.state_count == 2 else None,
            POOL.take((steps, batch, width), x) if spec.kind != "rnn" else None,
            POOL.take((steps, batch, width), x),
            POOL.take((steps, batch, units), x)
            if spec.kind == "mlstm" or (spec.kind == "gru" and spec.reset_after)
            else None,
        ]
    outputs = module.forward(
        *_leading_arguments(spec, x, h0, c0, matrices, packed),
        *coefficients,
        w.get("b_rec"),
        w.get("rmask"),
        None if keep is None else keep[..., 0],
        save,
        out,
    )
    count = spec.state_count
    h_sequence, finals = outputs[0], tuple(outputs[1 : 1 + count])
    rest = list(outputs[1 + count :])
    if not save:
        return finals, h_sequence
    state_sequences = (h_sequence,)
    if count == 2:
        state_sequences += (rest.pop(0),)
    saved = {}
    if spec.kind != "rnn":
        saved["gates"] = rest.pop(0)
    saved["uz"] = rest.pop(0)
    if rest:
        saved["wmh" if spec.kind == "mlstm" else "uh_h"] = rest.pop(0)
    # The projections are never stored: the backward loop computes them
    # again from the inputs.
    return finals, (state_sequences, saved, dict(xs))


def backward_loop(module, scratch):
    """`recurrence.backward_loop` by the C++ loop: same results. It writes
    the per-step gradients over what the forward pass saved (the gates
    receive d W x, uz receives d uh); the pooled buffers it hands out are
    listed in `scratch` (to give back once the weight gradients are
    computed from them)."""

    def loop(xp, scan, spec, w, xs, states, keep, residuals, d_h, d_final):
        state_sequences, saved = residuals
        names = _kernel_matrices(spec)
        matrices = [w[name].contiguous() for name in names]
        transposed = [w[name].t().contiguous() for name in names]
        x, h0, c0, coefficients = _kernel_arguments(spec, xs, states, w)
        # Products by W, W_mx (input projections, again) and by the
        # transposed recurrent matrices.
        packed = [
            pack(m, x[0]) if name in ("W", "Wmx") else None
            for name, m in zip(names, matrices)
        ]
        packed_t = [
            None if name in ("W", "Wmx") else pack(m, x[0])
            for name, m in zip(names, transposed)
        ]
        steps, batch, units = x.shape[0], x.shape[1], h0.shape[-1]
        width = coefficients[0].shape[0]
        mlstm = spec.kind == "mlstm"
        out = [
            POOL.take((steps, batch, width), x) if spec.kind == "rnn" else None,
            POOL.take((steps, batch, units), x) if mlstm else None,
            POOL.take((steps, batch, units), x) if mlstm else None,
            POOL.take((steps, batch, units), x) if mlstm else None,
            POOL.take((steps, batch, units), x)
            if spec.kind == "gru" and not spec.reset_after
            else None,
        ]
        scratch.extend(buffer for buffer in out if buffer is not None)
        extra = [saved[name] for name in ("wmh", "uh_h") if name in saved]
        residual_list = (
            list(state_sequences[1:])
            + ([saved["gates"]] if spec.kind != "rnn" else [])
            + [saved["uz"]]
            + extra
        )
        outputs = module.backward(
            *_leading_arguments(spec, x, h0, c0, matrices, packed),
            transposed,
            packed_t,
            *coefficients,
            w.get("rmask"),
            None if keep is None else keep[..., 0],
            state_sequences[0],
            residual_list,
            d_h,
            d_final[0],
            d_final[1] if len(d_final) > 1 else None,
            out,
        )
        count = spec.state_count
        d_states, rest = tuple(outputs[:count]), outputs[count:]
        grads = {"wx": rest[0], "duh": rest[1]}
        sums = dict(zip(("alpha", "beta1", "beta2", "bias"), rest[2:6]))
        totals = {name: sums[name] for name in recurrence.coefficient_names(spec, w)}
        if mlstm:
            grads.update(m=rest[6], dwmh=rest[7], dwmx=rest[8])
        elif spec.kind == "gru" and not spec.reset_after:
            grads["rh"] = rest[6]
        return d_states, totals, grads

    return loop
