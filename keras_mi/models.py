"""Character-level language models built from MI or Keras recurrent layers."""

import math
from numbers import Real

import keras
import numpy as np

from keras_mi.data.corpus import VOCABULARY_SIZE
from keras_mi.layers import (
    MIGRU,
    MILSTM,
    MIRNN,
    MLSTM,
    MultiplicativeInteraction,
    TiedEmbedding,
)
from keras_mi.validation import check_choice, check_positive_float, check_positive_int
from keras_mi.metrics import BitsPerCharacter

# The recurrent layer of each cell name; the additive baselines are Keras' own.
RECURRENT_LAYERS = {
    "milstm": MILSTM,
    "lstm": keras.layers.LSTM,
    "migru": MIGRU,
    "gru": lambda units, **kw: keras.layers.GRU(units, reset_after=False, **kw),
    "mirnn": MIRNN,
    "rnn": keras.layers.SimpleRNN,
    "mlstm": MLSTM,
}


def char_language_model(cell="milstm", units=128, layers=1, embedding_dim=32, vocabulary_size=VOCABULARY_SIZE):
    """Embedding -> `layers` recurrent layers -> Dense logits over characters.

    Args:
        cell: one of `RECURRENT_LAYERS` (`"milstm"`, `"lstm"`, `"migru"`,
            `"gru"`, `"mirnn"`, `"rnn"`, `"mlstm"`).
        units: hidden units per recurrent layer.
        layers: number of stacked recurrent layers.
        embedding_dim: size of the character embedding.
        vocabulary_size: number of symbols (256 for bytes).

    Returns:
        An uncompiled `keras.Model` mapping int sequences `(batch, time)` to
        logits `(batch, time, vocabulary_size)`.
    """
    check_choice("cell", cell, tuple(RECURRENT_LAYERS))
    for name, value in (("units", units), ("layers", layers), ("embedding_dim", embedding_dim),
                        ("vocabulary_size", vocabulary_size)):
        check_positive_int(name, value)
    inputs = keras.Input((None,), dtype="int32", name="characters")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    for index in range(layers):
        x = RECURRENT_LAYERS[cell](units, return_sequences=True, name=f"{cell}_{index}")(x)
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    return keras.Model(inputs, logits, name=f"{cell}_char_lm")


def units_for_parameter_count(count, parameter_count):
    """The positive integer `units` at which `count(units)` (a parameter
    count that grows with units) is closest to `parameter_count`."""
    check_positive_int("parameter_count", parameter_count)
    low, high = 1, 8
    while count(high) < parameter_count:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < parameter_count:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda u: abs(count(u) - parameter_count))


def compile_language_model(model, learning_rate=2e-3, clipnorm=1.0):
    """Adam, sparse cross-entropy on logits, and bits per character.
    `learning_rate` is a positive float or a Keras learning-rate schedule."""
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        check_positive_float("learning_rate", learning_rate)
    if clipnorm is not None:
        check_positive_float("clipnorm", clipnorm)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[BitsPerCharacter()],
    )
    return model


OUTPUT_EMBEDDINGS = ("multiplicative", "concatenated", "linear")


def multiplicative_embedding_model(
    cell="milstm",
    units=128,
    embedding_dim=32,
    context_units=16,
    vocabulary_size=VOCABULARY_SIZE,
    output_embedding="multiplicative",
):
    """A language model with multiplicative embeddings (Jayakumar et al. 2020).

    Section 8 of the paper: the output embedding is computed as `M(c, h)`, a
    Multiplicative Interaction of the recurrent output `h` with a small
    context `c = relu(W h + b)`, and scored against the *tied* input
    embeddings: `logits = M(c, h) E^T + b2`. The input side uses the
    diagonal form inside the recurrence: with `cell="milstm"` (or
    `"mlstm"`), every gate is a diagonal multiplicative interaction of the
    input embedding and `h_(t-1)`.

    Args:
        cell: a name of `RECURRENT_LAYERS`.
        units: hidden units of the recurrent layer.
        embedding_dim: size of the tied embedding.
        context_units: size of `c` (the low-rank bottleneck).
        vocabulary_size: number of symbols.
        output_embedding: how the output embedding is computed from `h`:
            `"multiplicative"` (default): `M(c, h)` as above;
            `"concatenated"`: `Dense([c; h])` with the same context
            `c = relu(W h + b)`, i.e. `M(c, h)` without its bilinear term
            `c^T W h` (concatenating `c` and adding it, `U c + V h + b`,
            are the same linear map);
            `"linear"`: `Dense(h)`, the paper's baseline (`context_units`
            is then not used).

    Returns:
        An uncompiled `keras.Model` mapping int sequences `(batch, time)` to
        logits `(batch, time, vocabulary_size)`.
    """
    check_choice("cell", cell, tuple(RECURRENT_LAYERS))
    check_choice("output_embedding", output_embedding, OUTPUT_EMBEDDINGS)
    for name, value in (
        ("units", units),
        ("embedding_dim", embedding_dim),
        ("context_units", context_units),
    ):
        check_positive_int(name, value)
    embedding = TiedEmbedding(vocabulary_size, embedding_dim, name="embedding")
    inputs = keras.Input((None,), dtype="int32", name="characters")
    h = RECURRENT_LAYERS[cell](units, return_sequences=True, name=f"{cell}_0")(
        embedding(inputs)
    )
    if output_embedding == "multiplicative":
        vectors = MultiplicativeInteraction(
            embedding_dim,
            mode="hypernetwork",
            context_units=context_units,
            name="output_embedding",
        )([h, h])
    elif output_embedding == "concatenated":
        context = keras.layers.Dense(context_units, activation="relu", name="output_context")(h)
        vectors = keras.layers.Dense(embedding_dim, name="output_embedding")(
            keras.layers.Concatenate(name="context_and_h")([context, h])
        )
    else:
        vectors = keras.layers.Dense(embedding_dim, name="output_embedding")(h)
    logits = embedding(vectors, reverse=True)
    return keras.Model(inputs, logits, name=f"{cell}_{output_embedding}_embedding_lm")


def stateful_copy(model):
    """A copy of a functional model that reads one sequence at a time and
    keeps the state of each recurrent layer from one call to the next.

    Every `keras.layers.RNN` (the keras_mi layers included) becomes
    `stateful=True` with a batch of one, and the weights are copied, so that
    calling the copy on a sequence and then on its continuation gives what
    the original gives on the whole sequence. Generating text then costs one
    step per character instead of a pass over the whole context.

    Args:
        model: a functional `keras.Model` (for example from
            `char_language_model`).

    Returns:
        A new model; reset its state with `reset_states()` on its recurrent
        layers.
    """
    config = model.get_config()
    for layer in config["layers"]:
        # Each layer builds again when the copy is assembled, for a batch of
        # one (a stateful layer needs its batch size at build time).
        layer.pop("build_config", None)
        layer_config = layer["config"]
        if layer["class_name"] == "InputLayer":
            layer_config["batch_shape"] = [1, *layer_config["batch_shape"][1:]]
        elif "stateful" in layer_config:
            layer_config["stateful"] = True
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def step_model(model):
    """A copy of a functional model whose recurrent states are explicit.

    The copy takes `[inputs, *states]` and returns `[outputs, *new_states]`:
    for every `keras.layers.RNN` of `model` (the keras_mi layers included),
    in the order the graph runs them, its states (zeros for a fresh
    sequence) go in and its final states come out. Calling the copy on a
    sequence, then on its continuation with the states it returned, gives
    what `model` gives on the whole sequence, on every backend and without
    `stateful` layers (whose state JAX's `predict_on_batch` does not carry
    from one call to the next). The other layers are shared with `model`;
    the recurrent layers are copies with the same weights.

    Args:
        model: a functional `keras.Model` with one input (for example from
            `char_language_model`).

    Returns:
        `(copy, state_sizes)`: the new model and the width of each state
        input, in order.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_run_through_graph") or len(
            model.inputs) != 1:
        raise ValueError(
            "Received an invalid value for argument `model`: expected a functional "
            f"keras.Model with one input, got {type(model).__name__}.")
    source = model.inputs[0]
    inputs = keras.Input(source.shape[1:], dtype=source.dtype, name="step_inputs")
    states_in, states_out, sizes = [], [], []

    def operation_fn(operation):
        if not isinstance(operation, keras.layers.RNN):
            return operation
        config = dict(operation.get_config(), return_state=True, stateful=False)
        copy = operation.__class__.from_config(config)
        state_size = operation.cell.state_size
        widths = list(state_size) if isinstance(state_size, (list, tuple)) else [state_size]

        def call(x, *args, **kwargs):
            kwargs.pop("initial_state", None)
            own = [keras.Input((int(w),), name=f"{operation.name}_state_{i}")
                   for i, w in enumerate(widths)]
            results = copy(x, *args, initial_state=own if len(own) > 1 else own[0], **kwargs)
            copy.set_weights(operation.get_weights())
            states_in.extend(own)
            states_out.extend(results[1:])
            sizes.extend(int(w) for w in widths)
            return results[0]

        return call

    outputs = model._run_through_graph([inputs], operation_fn=operation_fn)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    copy = keras.Model([inputs, *states_in], [*outputs, *states_out], name=f"{model.name}_step")
    return copy, sizes


def sample_symbols(model, prime, length, temperature=1.0, seed=0, on_symbol=None):
    """Generates `length` symbols after `prime`, one step per symbol.

    Runs the `step_model` of `model`: the prime once, then each sampled
    symbol, carrying the recurrent states explicitly from one call to the
    next. Each symbol is drawn from `softmax(logits / temperature)` with
    `numpy.random.default_rng(seed)`.

    Args:
        model: a language model mapping `(batch, time)` ids to logits.
        prime: non-empty list of int ids.
        length: number of symbols to generate.
        temperature: float >= 0; lower is greedier, and 0 always takes the
            most likely symbol.
        seed: int seed of the draws.
        on_symbol: called with each id as soon as it is drawn (streaming).

    Returns:
        The generated ids (a list of ints, without the prime).
    """
    if not prime:
        raise ValueError("Received an empty `prime`: give at least one symbol.")
    check_positive_int("length", length)
    if isinstance(temperature, bool) or not isinstance(temperature, Real) \
            or not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(
            "Received an invalid value for argument `temperature`, expected a "
            f"finite float >= 0 (0: the most likely symbol), got temperature={temperature!r}."
        )
    stepper, sizes = step_model(model)
    rng = np.random.default_rng(seed)
    states = [np.zeros((1, size), dtype="float32") for size in sizes]

    def advance(ids, states):
        results = stepper.predict_on_batch([np.asarray([ids], dtype="int32"), *states])
        results = results if isinstance(results, (list, tuple)) else [results]
        return np.asarray(results[0])[0, -1], [np.asarray(s) for s in results[1:]]

    logits, states = advance(prime, states)
    generated = []
    while True:
        symbol = draw(logits, temperature, rng)
        generated.append(symbol)
        if on_symbol is not None:
            on_symbol(symbol)
        if len(generated) == length:
            return generated
        logits, states = advance([symbol], states)


def draw(logits, temperature, rng):
    """One symbol from `softmax(logits / temperature)`, drawn with `rng`;
    the most likely one at temperature 0."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = np.asarray(logits, dtype="float64") / temperature
    probabilities = np.exp(scaled - scaled.max())
    probabilities /= probabilities.sum()
    return int(rng.choice(len(probabilities), p=probabilities))
