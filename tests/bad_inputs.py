"""A catalogue of bad and extreme inputs to the library and the command, with
what a user should get back from each, run on the current Keras backend.

Each case ends in one of:

- `clear`: a `ValueError` or `TypeError` (or the command's exit status 2)
  whose message holds every string the case names: the argument and the
  value received;
- `correct`: no error, and a result the case checks (NaN where an error
  cannot be raised inside a compiled step, for instance);
- `as_keras`: some other error, and Keras' own layer given the same input
  fails with an error of the same type (left as Keras' behaviour);
- `unclear`: any other error, or one that does not name what is wrong;
- `silent`: accepted without a word;
- `hang`: no answer within the case's time limit.

    KERAS_BACKEND=jax python -m tests.bad_inputs --out counts.json

prints each case that is not `clear` or `correct` and the counts per
outcome; tests/test_bad_inputs.py runs every case on every backend.
"""

import argparse
import contextlib
import io
import json
import math
import os
import signal
import sys
import tempfile

import keras
import numpy as np

OUTCOMES = ("clear", "correct", "as_keras", "unclear", "silent", "hang")

# What a case may take, in seconds: a pipeline or the command's parser start
# well within it; only a hang exceeds it.
TIME_LIMIT = 60


class Case:
    """`run()` does the bad thing. `names` are the strings a clear error
    holds; `result(value)` says whether a returned value is the correct
    answer; `keras_run()` does the same with Keras' own layer."""

    def __init__(self, group, name, run, names=(), result=None, keras_run=None):
        self.group = group
        self.name = name
        self.run = run
        self.names = tuple(str(n) for n in names)
        self.result = result
        self.keras_run = keras_run

    @property
    def id(self):
        return f"{self.group}: {self.name}"


class _TimeLimit(Exception):
    pass


def _raise_time_limit(signum, frame):
    raise _TimeLimit


@contextlib.contextmanager
def _time_limit(seconds):
    previous = signal.signal(signal.SIGALRM, _raise_time_limit)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _error_of(run):
    """The exception `run()` raises, or None (with its value)."""
    try:
        return None, run()
    except _TimeLimit:
        raise
    except Exception as error:  # every other error is classified
        return error, None


def classify(case, time_limit=TIME_LIMIT):
    """(outcome, message) of one case."""
    try:
        with _time_limit(time_limit):
            error, value = _error_of(case.run)
    except _TimeLimit:
        return "hang", f"no answer in {time_limit} s"
    if error is None:
        if case.result is not None and case.result(value):
            return "correct", repr(value)[:200]
        return "silent", repr(value)[:200]
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, (ValueError, TypeError)) and all(n in str(error) for n in case.names):
        return "clear", message
    if case.keras_run is not None:
        keras_error, _ = _error_of(case.keras_run)
        if keras_error is not None and type(keras_error) is type(error):
            return "as_keras", message
    return "unclear", message


# ---------------------------------------------------------------------------
# Helpers the cases share.


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _all_nan(value):
    return bool(np.all(np.isnan(_numpy(value))))


def _floats(*shape):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


class _CommandExit(ValueError):
    """The command refused its arguments (exit status 2), with its stderr."""


def _command(*argv):
    """Runs `keras-mi ARGV` in this process; a refusal becomes `_CommandExit`
    carrying what the command printed."""
    from keras_mi import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(list(argv))
        except SystemExit as exit_:
            status = exit_.code
    if status == 2:
        raise _CommandExit(err.getvalue())
    return status


# ---------------------------------------------------------------------------
# The cases.


def _sequence_classes():
    import keras_mi

    return {
        "MIRNN": keras_mi.MIRNN,
        "MILSTM": keras_mi.MILSTM,
        "MIGRU": keras_mi.MIGRU,
        "MLSTM": keras_mi.MLSTM,
    }


def _cell_classes():
    import keras_mi

    return {
        "MIRNNCell": keras_mi.MIRNNCell,
        "MILSTMCell": keras_mi.MILSTMCell,
        "MIGRUCell": keras_mi.MIGRUCell,
        "MLSTMCell": keras_mi.MLSTMCell,
    }


# The Keras layer each MI layer stands in for.
_KERAS_TWIN = {
    "MIRNN": "SimpleRNN",
    "MILSTM": "LSTM",
    "MIGRU": "GRU",
    "MLSTM": "LSTM",
    "MIRNNCell": "SimpleRNNCell",
    "MILSTMCell": "LSTMCell",
    "MIGRUCell": "GRUCell",
    "MLSTMCell": "LSTMCell",
}

_CONSTRUCTOR_VALUES = [
    ("units", 0),
    ("units", -3),
    ("units", 2.5),
    ("units", "8"),
    ("units", None),
    ("units", True),
    ("integration", "mult"),
    ("activation", "swishy"),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("dropout", "0.5"),
    ("dropout", float("nan")),
    ("recurrent_dropout", 2),
    ("seed", -3),
    ("seed", 2**70),
    ("seed", "7"),
    ("seed", True),
    ("use_bias", "no"),
    ("kernel_initializer", "nope"),
    ("recurrent_regularizer", "nope"),
    ("bias_constraint", 5),
    ("alpha_initializer", "nope"),
    ("beta1_regularizer", "l3"),
]
_GATED_VALUES = [("recurrent_activation", "nope")]
_LSTM_VALUES = [
    ("unit_forget_bias", "no"),
    ("normalization", "bn"),
    ("normalization_statistics", "all"),
    ("normalization_steps", 0),
    ("normalization_momentum", 1.5),
    ("normalization_epsilon", -1.0),
    ("normalization_synchronized", "yes"),
    ("gamma_initializer", "nope"),
]
_GRU_VALUES = [("reset_after", "no")]
_LAYER_VALUES = [
    ("return_sequences", "no"),
    ("return_state", "no"),
    ("go_backwards", "no"),
    ("stateful", "no"),
    ("unroll", "no"),
    ("zero_output_for_mask", "no"),
]


def _value_text(value):
    """How a clear error shows the value: its repr (strings quoted)."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return repr(value)


def constructor_cases():
    cases = []
    classes = {**_sequence_classes(), **_cell_classes()}
    for class_name, cls in classes.items():
        values = list(_CONSTRUCTOR_VALUES)
        if "RNN" not in class_name:
            values += _GATED_VALUES
        if "LSTM" in class_name:
            values += _LSTM_VALUES
        if "GRU" in class_name:
            values += _GRU_VALUES
        if not class_name.endswith("Cell"):
            values += _LAYER_VALUES
        twin = getattr(keras.layers, _KERAS_TWIN[class_name])
        for argument, value in values:
            kwargs = {"units": 3, argument: value}
            keras_kwargs = dict(kwargs)
            cases.append(
                Case(
                    "constructor",
                    f"{class_name}({argument}={value!r})",
                    lambda cls=cls, kwargs=kwargs: cls(**kwargs),
                    names=(argument, _value_text(value)),
                    keras_run=lambda twin=twin, kw=keras_kwargs: twin(**kw),
                )
            )
        cases.append(
            Case(
                "constructor",
                f"{class_name} from_config with units=0",
                lambda cls=cls: cls.from_config({**cls(3).get_config(), "units": 0}),
                names=("units", "0"),
            )
        )
    return cases


def call_cases():
    cases = []
    for class_name, cls in _sequence_classes().items():
        twin = getattr(keras.layers, _KERAS_TWIN[class_name])

        def add(name, run, names, keras_run=None):
            cases.append(Case("call", f"{class_name}: {name}", run, names, keras_run=keras_run))

        add("int32 inputs", lambda cls=cls: cls(3)(np.ones((2, 4, 2), "int32")), ("int32",),
            lambda twin=twin: twin(3)(np.ones((2, 4, 2), "int32")))
        add("bool inputs", lambda cls=cls: cls(3)(np.ones((2, 4, 2), bool)), ("bool",),
            lambda twin=twin: twin(3)(np.ones((2, 4, 2), bool)))
        add("inputs of rank 2", lambda cls=cls: cls(3)(_floats(2, 4)), ("ndim=3", "ndim=2"))
        add("inputs of rank 4", lambda cls=cls: cls(3)(_floats(2, 4, 2, 1)), ("ndim=3", "ndim=4"))
        add("0 timesteps", lambda cls=cls: cls(3)(_floats(2, 0, 2)), ("timesteps", "0"),
            lambda twin=twin: twin(3)(_floats(2, 0, 2)))
        add("mask of shape (2, 5) for 4 timesteps",
            lambda cls=cls: cls(3)(_floats(2, 4, 2), mask=np.ones((2, 5), bool)),
            ("mask", "(2, 5)"),
            lambda twin=twin: twin(3)(_floats(2, 4, 2), mask=np.ones((2, 5), bool)))
        add("mask of rank 3",
            lambda cls=cls: cls(3)(_floats(2, 4, 2), mask=np.ones((2, 4, 1), bool)),
            ("mask", "(2, 4, 1)"),
            lambda twin=twin: twin(3)(_floats(2, 4, 2), mask=np.ones((2, 4, 1), bool)))
        states = 1 if class_name in ("MIRNN", "MIGRU") else 2
        add("initial_state of the wrong width",
            lambda cls=cls, n=states: cls(3)(_floats(2, 4, 2), initial_state=[_floats(2, 5)] * n),
            ("initial_state", "(batch, units)"))
        add("initial_state of the wrong batch",
            lambda cls=cls, n=states: cls(3)(_floats(2, 4, 2), initial_state=[_floats(3, 3)] * n),
            ("initial_state",))
        add("initial_state with one state too many",
            lambda cls=cls, n=states: cls(3)(_floats(2, 4, 2), initial_state=[_floats(2, 3)] * (n + 1)),
            ("initial_state",))
        add("a feature width that changes after build",
            lambda cls=cls: _call_twice(cls(3), _floats(2, 4, 2), _floats(2, 4, 5)),
            ("axis -1", "(2, 4, 5)"),
            lambda twin=twin: _call_twice(twin(3), _floats(2, 4, 2), _floats(2, 4, 5)))
        # Keras traces a model at its data's length, so the unrolled loop
        # runs (and equals the loop that is not unrolled).
        add("unroll=True with an unknown sequence length",
            lambda cls=cls: _unrolled_against_loop(cls), ())
        cases[-1].result = lambda difference: difference < 1e-5
        add("stateful with an unknown batch size",
            lambda cls=cls: _stateful_without_batch(cls),
            ("stateful", "batch"),
            lambda twin=twin: _stateful_without_batch(twin))
        add("NaN inputs give NaN outputs",
            lambda cls=cls: cls(3)(np.full((2, 4, 2), np.nan, "float32")),
            ())
        cases[-1].result = _all_nan
    for class_name, cls in _cell_classes().items():
        states = 1 if class_name in ("MIRNNCell", "MIGRUCell") else 2

        def add(name, run, names):
            cases.append(Case("call", f"{class_name}: {name}", run, names))

        add("called with one state too few",
            lambda cls=cls, n=states: _cell_call(cls, [_floats(2, 3)] * (n - 1)),
            ("state",))
        add("called with states of the wrong width",
            lambda cls=cls, n=states: _cell_call(cls, [_floats(2, 4)] * n),
            ("state", "4"))
        add("called with inputs of rank 3",
            lambda cls=cls, n=states: _cell_call(cls, [_floats(2, 3)] * n, _floats(2, 4, 2)),
            ("ndim=2", "ndim=3"))
        add("called with inputs of another width than it was built on",
            lambda cls=cls, n=states: _call_twice_cell(cls, n), ("axis -1", "(2, 5)"))
    return cases


def _call_twice(layer, first, second):
    layer(first)
    return layer(second)


def _unrolled_against_loop(cls):
    """Largest difference between predictions with and without `unroll` of
    a model built on an unknown sequence length."""
    models = []
    for unroll in (True, False):
        inputs = keras.Input((None, 2))
        models.append(keras.Model(inputs, cls(3, unroll=unroll)(inputs)))
    models[1].set_weights(models[0].get_weights())
    x = _floats(2, 5, 2)
    return float(np.max(np.abs(models[0].predict(x, verbose=0) - models[1].predict(x, verbose=0))))


def _stateful_without_batch(cls):
    inputs = keras.Input((4, 2))
    return cls(3, stateful=True)(inputs)


def _cell_call(cls, states, inputs=None):
    cell = cls(3)
    return cell(_floats(2, 2) if inputs is None else inputs, states)


def _call_twice_cell(cls, count):
    cell = cls(3)
    states = [_floats(2, 3)] * count
    cell(_floats(2, 2), states)
    return cell(_floats(2, 5), states)


def interaction_cases():
    from keras_mi import MultiplicativeInteraction as MI

    cases = []

    def add(name, run, names, result=None):
        cases.append(Case("interaction", name, run, names, result))

    add("mode='full-rank'", lambda: MI(3, mode="full-rank"), ("mode", "'full-rank'"))
    add("units=0", lambda: MI(0), ("units", "0"))
    add("units='3'", lambda: MI("3"), ("units", "'3'"))
    add("context_units=0", lambda: MI(3, context_units=0), ("context_units", "0"))
    add("use_bias='no'", lambda: MI(3, use_bias="no"), ("use_bias", "'no'"))
    add("kernel_initializer='nope'", lambda: MI(3, kernel_initializer="nope"),
        ("kernel_initializer", "'nope'"))
    add("interaction_regularizer='nope'", lambda: MI(3, interaction_regularizer="nope"),
        ("interaction_regularizer", "'nope'"))
    add("called with one input", lambda: MI(3)(_floats(2, 4)), ("[x, z]",))
    add("called with three inputs", lambda: MI(3)([_floats(2, 4)] * 3), ("[x, z]",))
    for mode in ("hypernetwork", "diagonal", "scalar"):
        add(f"{mode}: x and z of different batch sizes",
            lambda mode=mode: MI(3, mode=mode)([_floats(6, 4), _floats(1, 3)]),
            ("batch", "6", "1"))
        add(f"{mode}: x width that changes after build",
            lambda mode=mode: _call_twice(MI(3, mode=mode), [_floats(2, 4), _floats(2, 3)],
                                          [_floats(2, 5), _floats(2, 3)]),
            ("x", "5"))
        add(f"{mode}: z width that changes after build",
            lambda mode=mode: _call_twice(MI(3, mode=mode), [_floats(2, 4), _floats(2, 3)],
                                          [_floats(2, 4), _floats(2, 7)]),
            ("z", "7"))
        # As Keras' Dense, integer inputs are cast to the layer's dtype.
        add(f"{mode}: int32 x is read as float32",
            lambda mode=mode: _int_against_float(MI(3, mode=mode)), ())
        cases[-1].result = lambda difference: difference == 0.0
    add("a context of batch 1 built on an unknown batch, then called with batch 6",
        lambda: _unknown_batch_then_mismatch(MI), ("batch", "6", "1"))
    return cases


def _int_against_float(layer):
    ids = np.arange(8, dtype="int32").reshape(2, 4)
    z = _floats(2, 3)
    return float(np.max(np.abs(_numpy(layer([ids, z])) - _numpy(layer([ids.astype("float32"), z])))))


def _unknown_batch_then_mismatch(cls):
    layer = cls(3, mode="diagonal")
    layer([keras.Input((4,)), keras.Input((3,))])
    return layer([_floats(6, 4), _floats(1, 3)])


def embedding_cases():
    from keras_mi import TiedEmbedding

    cases = []

    def layer():
        embedding = TiedEmbedding(5, 3)
        embedding.build((None,))
        return embedding

    def add(name, run, names, result=None, keras_run=None):
        cases.append(Case("embedding", name, run, names, result, keras_run))

    add("input_dim=0", lambda: TiedEmbedding(0, 3), ("input_dim", "0"))
    add("output_dim='3'", lambda: TiedEmbedding(5, "3"), ("output_dim", "'3'"))
    add("use_output_bias='no'", lambda: TiedEmbedding(5, 3, use_output_bias="no"),
        ("use_output_bias", "'no'"))
    add("embeddings_initializer='nope'", lambda: TiedEmbedding(5, 3, embeddings_initializer="nope"),
        ("embeddings_initializer", "'nope'"))
    add("id -1 gives a NaN vector", lambda: layer()(np.array([-1])), (), _all_nan)
    add("id 5 of 5 gives a NaN vector", lambda: layer()(np.array([5])), (), _all_nan)
    add("id 10**6 gives a NaN vector", lambda: layer()(np.array([10**6])), (), _all_nan)
    add("float id 1.7 gives a NaN vector", lambda: layer()(np.array([1.7], "float32")), (), _all_nan)
    add("bool ids", lambda: layer()(np.array([True])), ("bool",))
    add("string ids", lambda: layer()(np.array(["a"])), ("ids",),
        keras_run=lambda: keras.layers.Embedding(5, 3)(np.array(["a"])))
    return cases


def metric_cases():
    from keras_mi.metrics import BitsPerCharacter

    cases = []

    def add(name, run, names, result=None):
        cases.append(Case("metric", name, run, names, result))

    def bpc(y, logits, sample_weight=None):
        metric = BitsPerCharacter()
        metric.update_state(y, logits, sample_weight=sample_weight)
        return metric.result()

    add("from_logits='no'", lambda: BitsPerCharacter(from_logits="no"), ("from_logits", "'no'"))
    add("all sample weights zero gives NaN",
        lambda: bpc(np.array([[1, 2]]), _floats(1, 2, 4), np.zeros((1, 2), "float32")), (), _all_nan)
    add("a label beyond the classes gives NaN",
        lambda: bpc(np.array([[1, 9]]), _floats(1, 2, 4)), (), _all_nan)
    add("a negative label gives NaN",
        lambda: bpc(np.array([[1, -1]]), _floats(1, 2, 4)), (), _all_nan)
    return cases


def _probe_model(timesteps=6):
    from keras_mi import MILSTM

    inputs = keras.Input((timesteps, 2))
    outputs = keras.layers.Dense(1)(MILSTM(3, return_sequences=True, name="rnn")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(loss="mse")
    return model


def _begin(callback, model=None, probe_timesteps=6):
    callback.set_model(model or _probe_model(probe_timesteps))
    callback.on_train_begin()
    return callback


def monitor_cases():
    from keras_mi.callbacks import ActivationMonitor, GradientNormMonitor, ScaleMonitor

    cases = []
    log_dir = tempfile.mkdtemp(prefix="bad_inputs_")
    probe = (_floats(2, 6, 2), _floats(2, 6, 1))
    a_file = os.path.join(log_dir, "a_file")
    with open(a_file, "w") as f:
        f.write("x")

    def add(name, run, names):
        cases.append(Case("monitor", name, run, names))

    for timesteps, names in [
        (["a"], ("timesteps", "'a'")),
        ("05", ("timesteps", "'05'")),
        ([-1], ("timesteps", "-1")),
        ([], ("timesteps", "[]")),
        ([2.5], ("timesteps", "2.5")),
    ]:
        add(f"GradientNormMonitor(timesteps={timesteps!r})",
            lambda t=timesteps: GradientNormMonitor(log_dir, probe, timesteps=t), names)
    add("GradientNormMonitor(timesteps=[1, 1]) logs t=1 once",
        lambda: GradientNormMonitor(log_dir, probe, timesteps=[1, 1]).timesteps, ())
    cases[-1].result = lambda steps: list(steps) == [1]
    add("GradientNormMonitor timesteps beyond the probe",
        lambda: _begin(GradientNormMonitor(log_dir, probe, timesteps=[0, 9])), ("timesteps", "9"))
    add("GradientNormMonitor without targets",
        lambda: GradientNormMonitor(log_dir, (probe[0],)), ("probe_data",))
    add("GradientNormMonitor(loss_over='some')",
        lambda: GradientNormMonitor(log_dir, probe, loss_over="some"), ("loss_over", "'some'"))
    for cls in (GradientNormMonitor, ActivationMonitor, ScaleMonitor):
        name = cls.__name__
        add(f"{name}(probe_data=an array)", lambda cls=cls: cls(log_dir, probe[0]), ("probe_data",))
        add(f"{name}(every_n_epochs=0)",
            lambda cls=cls: cls(log_dir, probe, every_n_epochs=0), ("every_n_epochs", "0"))
        add(f"{name}(every_n_batches=-2)",
            lambda cls=cls: cls(log_dir, probe, every_n_batches=-2), ("every_n_batches", "-2"))
        add(f"{name} with a log_dir that is a file",
            lambda cls=cls: _begin(cls(a_file, probe)), ("log_dir", a_file))
        add(f"{name} with layer_name of no layer",
            lambda cls=cls: _begin(cls(log_dir, probe, layer_name="nope")), ("layer_name", "nope"))
        add(f"{name} with a probe of the wrong feature width",
            lambda cls=cls: _begin(cls(log_dir, (_floats(2, 6, 5), probe[1]))), ("probe", "5"))
        add(f"{name} with a probe of 0 timesteps",
            lambda cls=cls: _begin(cls(log_dir, (_floats(2, 0, 2), _floats(2, 0, 1))), None, None),
            ("probe", "0"))
    add("ActivationMonitor(threshold=-1)",
        lambda: ActivationMonitor(log_dir, probe, threshold=-1), ("threshold", "-1"))
    add("ActivationMonitor(threshold='high')",
        lambda: ActivationMonitor(log_dir, probe, threshold="high"), ("threshold", "'high'"))
    return cases


def _text_files(folder, texts):
    paths = []
    for i, text in enumerate(texts):
        path = os.path.join(folder, f"f{i}.txt")
        with open(path, "w") as f:
            f.write(text)
        paths.append(path)
    return paths


def data_cases():
    from keras_mi import data

    cases = []
    folder = tempfile.mkdtemp(prefix="bad_inputs_data_")
    text = "the quick brown fox jumps over the lazy dog\n" * 40

    def add(name, run, names):
        cases.append(Case("data", name, run, names))

    def stream():
        return data.symbol_stream(data.file_documents(_text_files(folder, [text])))

    add("CharacterVocabulary.build(max_size=0)",
        lambda: data.CharacterVocabulary.build([text], max_size=0), ("max_size", "0"))
    add("CharacterVocabulary.build(max_size=-1)",
        lambda: data.CharacterVocabulary.build([text], max_size=-1), ("max_size", "-1"))
    corrupt = _text_files(folder, ["{not json"])[0]
    add("CharacterVocabulary.load of a corrupt file",
        lambda: data.CharacterVocabulary.load(corrupt), (corrupt,))
    no_characters = os.path.join(folder, "no_characters.json")
    with open(no_characters, "w") as f:
        json.dump({"size": 3}, f)
    add("CharacterVocabulary.load of a file without characters",
        lambda: data.CharacterVocabulary.load(no_characters), ("characters", no_characters))
    missing = os.path.join(folder, "missing.txt")
    add("CharacterVocabulary.load of a missing file",
        lambda: data.CharacterVocabulary.load(missing), (missing,))
    empty = os.path.join(folder, "empty.txt")
    open(empty, "w").close()
    add("byte_windows over an empty file",
        lambda: data.byte_windows([empty], 10, 2), (empty,))
    add("byte_windows over a missing file",
        lambda: data.byte_windows([missing], 10, 2), (missing,))
    add("byte_windows over a folder", lambda: data.byte_windows([folder], 10, 2), (folder,))
    add("byte_windows(sequence_length=0)",
        lambda: data.byte_windows(_text_files(folder, [text]), 0, 2), ("sequence_length", "0"))
    add("byte_windows(batch_size=-1)",
        lambda: data.byte_windows(_text_files(folder, [text]), 10, -1), ("batch_size", "-1"))
    add("byte_windows(batch_size=2.5)",
        lambda: data.byte_windows(_text_files(folder, [text]), 10, 2.5), ("batch_size", "2.5"))
    add("windows(shuffle_buffer=-5)",
        lambda: data.windows(stream(), 10, 2, shuffle_buffer=-5), ("shuffle_buffer", "-5"))
    add("windows(sequence_length='10')",
        lambda: data.windows(stream(), "10", 2), ("sequence_length", "'10'"))
    add("windows(seed=-1)",
        lambda: data.windows(stream(), 10, 2, shuffle_buffer=4, seed=-1), ("seed", "-1"))
    add("file_documents of a missing file",
        lambda: data.file_documents([missing]), (missing,))
    return cases


def model_cases():
    import keras_mi
    from keras_mi import models

    cases = []

    def add(name, run, names):
        cases.append(Case("models", name, run, names))

    add("char_language_model(cell='transformer')",
        lambda: models.char_language_model(cell="transformer"), ("cell", "'transformer'"))
    add("char_language_model(units=0)", lambda: models.char_language_model(units=0), ("units", "0"))
    add("char_language_model(layers=0)", lambda: models.char_language_model(layers=0), ("layers", "0"))
    add("char_language_model(embedding_dim=-1)",
        lambda: models.char_language_model(embedding_dim=-1), ("embedding_dim", "-1"))
    add("char_language_model(vocabulary_size=1.5)",
        lambda: models.char_language_model(vocabulary_size=1.5), ("vocabulary_size", "1.5"))
    add("compile_language_model(learning_rate=-1)",
        lambda: models.compile_language_model(models.char_language_model(units=4), learning_rate=-1),
        ("learning_rate", "-1"))
    add("compile_language_model(clipnorm=nan)",
        lambda: models.compile_language_model(models.char_language_model(units=4),
                                              clipnorm=float("nan")),
        ("clipnorm", "nan"))
    add("step_model of a Sequential model",
        lambda: models.step_model(keras.Sequential([keras.Input((None,)), keras.layers.Embedding(4, 2)])),
        ("model", "functional"))

    add("sample_symbols(temperature=-1)",
        lambda: models.sample_symbols(models.char_language_model(units=4), [1, 2], 3, temperature=-1),
        ("temperature", "-1"))
    add("sample_symbols(temperature=0) takes the most likely symbols",
        lambda: _greedy_against_argmax(models), ())
    cases[-1].result = lambda same: same is True
    add("sample_symbols(length=-1)",
        lambda: models.sample_symbols(models.char_language_model(units=4), [1, 2], -1),
        ("length", "-1"))
    add("sample_symbols with an empty prime",
        lambda: models.sample_symbols(models.char_language_model(units=4), [], 3), ("prime",))
    add("convert_model('a string')", lambda: keras_mi.convert_model("model"), ("model", "'model'"))
    add("to_multiplicative(Dense)",
        lambda: keras_mi.to_multiplicative(keras.layers.Dense(3)), ("Dense",))
    add("multiplicative_embedding_model(output_embedding='bilinear')",
        lambda: models.multiplicative_embedding_model(output_embedding="bilinear"),
        ("output_embedding", "'bilinear'"))
    return cases


def _greedy_against_argmax(models):
    """Whether sampling at temperature 0 gives, at each step, the argmax of
    the model's logits over the prime and the symbols so far."""
    model = models.char_language_model(units=4, vocabulary_size=7)
    prime = [1, 2]
    generated = models.sample_symbols(model, prime, 4, temperature=0)
    ids = prime + generated
    logits = model.predict(np.asarray([ids[:-1]], "int32"), verbose=0)[0]
    return [int(i) for i in np.argmax(logits[len(prime) - 1:], axis=-1)] == generated


def command_cases():
    cases = []
    folder = tempfile.mkdtemp(prefix="bad_inputs_command_")
    a_file = os.path.join(folder, "a_file")
    with open(a_file, "w") as f:
        f.write("x")
    missing = os.path.join(folder, "missing")

    def add(name, argv, names):
        cases.append(Case("command", "keras-mi " + " ".join(argv), lambda: _command(*argv), names))
        del name

    for option, value in [
        ("--steps-per-epoch", "0"),
        ("--steps-per-epoch", "-1"),
        ("--validation-steps", "-1"),
        ("--test-steps", "0"),
        ("--test-steps", "-2"),
        ("--epochs", "0"),
        ("--epochs", "-1"),
        ("--learning-rate", "-1"),
        ("--learning-rate", "nan"),
        ("--clipnorm", "-1"),
        ("--clipnorm", "nan"),
        ("--max-vocabulary", "0"),
        ("--max-vocabulary", "-1"),
        ("--units", "0"),
        ("--units", "ten"),
        ("--layers", "0"),
        ("--embedding-dim", "-4"),
        ("--sequence-length", "0"),
        ("--batch-size", "0"),
        ("--seed", "-1"),
        ("--seed", str(2**40)),
    ]:
        add(option, ["train", option, value, "--run-dir", os.path.join(folder, "r")], (option, value))
    add("--cell", ["train", "--cell", "transformer"], ("--cell", "transformer"))
    add("--vocabulary", ["train", "--vocabulary", "words"], ("--vocabulary", "words"))
    add("--run-dir under a file", ["train", "--run-dir", os.path.join(a_file, "r")],
        ("--run-dir", a_file))
    add("--checkpoint-dir under a file",
        ["train", "--run-dir", os.path.join(folder, "r2"), "--checkpoint-dir", os.path.join(a_file, "c")],
        ("--checkpoint-dir", a_file))
    add("--dataset missing", ["train", "--dataset", missing, "--run-dir", os.path.join(folder, "r3")],
        (missing,))
    add("--dataset tfds without data", ["train", "--dataset", "tfds:", "--run-dir", os.path.join(folder, "r4")],
        ("--dataset", "''"))
    for option, value in [("--steps", "0"), ("--steps", "-1")]:
        add(option, ["evaluate", missing, option, value], (option, value))
    add("evaluate a missing model", ["evaluate", missing], (missing,))
    add("evaluate --split dev", ["evaluate", missing, "--split", "dev"], ("--split", "dev"))
    for option, value in [("--temperature", "-1"), ("--temperature", "0"), ("--temperature", "inf"),
                          ("--length", "0"), ("--seed", "-3")]:
        add(option, ["sample", missing, option, value], (option, value))
    add("sample a missing model", ["sample", missing], (missing,))
    add("sample a file that is not a model", ["sample", a_file], (a_file,))
    add("compare --cells with one unknown", ["compare", "--cells", "lstm,nope"], ("nope",))
    add("an unknown command", ["fly"], ("fly",))
    add("train --resume and --overwrite", ["train", "--resume", "--overwrite",
                                             "--run-dir", os.path.join(folder, "r5")],
        ("--resume", "--overwrite"))
    return cases


def all_cases():
    return (
        constructor_cases()
        + call_cases()
        + interaction_cases()
        + embedding_cases()
        + metric_cases()
        + monitor_cases()
        + data_cases()
        + model_cases()
        + command_cases()
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="write the counts and each outcome as JSON")
    parser.add_argument("--group", default=None, help="run the cases of one group only")
    args = parser.parse_args(argv)
    results = []
    for case in all_cases():
        if args.group and case.group != args.group:
            continue
        outcome, message = classify(case)
        results.append({"case": case.id, "outcome": outcome, "message": message})
        if outcome not in ("clear", "correct"):
            print(f"[{outcome}] {case.id}\n    {message[:300]}")
    counts = {o: sum(r["outcome"] == o for r in results) for o in OUTCOMES}
    print(f"{keras.backend.backend()}: {len(results)} cases: "
          + ", ".join(f"{o} {n}" for o, n in counts.items()))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"backend": keras.backend.backend(), "keras": keras.__version__,
                       "counts": counts, "cases": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
