"""Runs one recurrent layer of a model step by step on a probe batch.

The monitors need what `model.predict` does not give: every state `h_t`, the
projections `W x_t` and `U h_(t-1)`, and the gradient of the loss with
respect to each `h_t`. A `Probe` splits the model around its recurrent layer
(the part before, the cell's own steps, the part after) and recomputes the
forward pass with `keras.ops`, so it works for keras_mi layers and for
Keras' `LSTM`, `GRU` and `SimpleRNN` on every backend.
"""

import keras
import numpy as np
from keras import ops


def find_recurrent_layer(model, layer_name=None):
    """The named `keras.layers.RNN` of `model`, or its first one."""
    if layer_name is not None:
        names = [layer.name for layer in model.layers]
        if layer_name not in names:
            raise ValueError(
                f"Received an invalid value for argument `layer_name`: the "
                f"model has no layer {layer_name!r}; its layers are {names}."
            )
        layer = model.get_layer(layer_name)
        if not isinstance(layer, keras.layers.RNN):
            raise ValueError(
                f"Received an invalid value for argument `layer_name`: layer "
                f"{layer_name!r} is a {type(layer).__name__}, not a recurrent "
                "layer (a `keras.layers.RNN`, such as LSTM, GRU, SimpleRNN, "
                "MILSTM)."
            )
        return layer
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN):
            return layer
    raise ValueError(
        f"Model `{model.name}` has no recurrent layer (a `keras.layers.RNN` "
        "such as LSTM, GRU, SimpleRNN, MILSTM) at its top level; the monitors "
        "need one. Layers: " + ", ".join(layer.name for layer in model.layers)
    )


class Probe:
    """Step-by-step forward pass of one recurrent layer of `model`.

    Args:
        model: a built functional or Sequential model.
        layer: the recurrent layer (see `find_recurrent_layer`).
        x, y: the probe inputs and targets (NumPy arrays).
    """

    def __init__(self, model, layer, x, y=None):
        if getattr(layer.cell, "state_size", None) is None or isinstance(
            layer.cell, keras.layers.StackedRNNCells
        ):
            raise ValueError(
                f"Layer `{layer.name}` has a stacked cell; monitor one cell."
            )
        self.model, self.layer, self.cell = model, layer, layer.cell
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
        self.head = keras.Model(inputs, layer.input)
        self.tail = keras.Model(layer.output, outputs)
        self.x, self.y = x, y
        expected = [tuple(i.shape) for i in model.inputs]
        mismatch = len(expected) != 1 or len(np.shape(x)) != len(expected[0]) or any(
            want is not None and got != want
            for got, want in zip(np.shape(x), expected[0])
        )
        error = None
        if not mismatch:
            try:
                sequences = self.head(x, training=False)
            except Exception as caught:  # any backend's shape error
                mismatch, error = True, caught
        if mismatch:
            raise ValueError(
                f"The probe data does not fit model `{model.name}`: "
                f"x of shape {np.shape(x)} against inputs {expected}."
                + ("" if error is None else f" ({error})")
            )
        # A masked model feeds the layer `[sequences, mask]`: the probe then
        # carries the states over masked steps, as the layer does.
        self.mask = None
        if isinstance(sequences, (list, tuple)):
            sequences, mask = sequences
            if mask is not None:
                self.mask = ops.convert_to_tensor(mask)
        self.sequences = ops.convert_to_tensor(sequences)
        if self.layer.go_backwards:
            self.sequences = ops.flip(self.sequences, axis=1)
            if self.mask is not None:
                self.mask = ops.flip(self.mask, axis=1)
        self.timesteps = int(self.sequences.shape[1])
        self.units = _hidden_size(self.cell)

    def run(self, perturbations=None):
        """The forward pass: every state of every step.

        Returns a list with one `(T, B, size)` tensor per state of the cell,
        the hidden state `h_t` first (the cell state `c_t` second for the
        LSTM family). `perturbations` (T, B, H), if given, is added to `h_t`
        after step t, so that the gradient of a loss with respect to it is
        `dC/dh_t` through every later path.
        """
        batch = self.sequences.shape[0]
        states = self.cell.get_initial_state(batch_size=batch)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        steps = []
        for t in range(self.timesteps):
            _, new = self.cell(self.sequences[:, t], states, training=False)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if self.mask is not None:
                keep = ops.expand_dims(self.mask[:, t], -1)
                new = [ops.where(keep, n, old) for n, old in zip(new, states)]
            states = new
            if perturbations is not None:
                states[0] = states[0] + perturbations[t]
            steps.append(states)
        return [
            ops.stack([step[i] for step in steps], axis=0)
            for i in range(len(steps[0]))
        ]

    def layer_output(self, hidden):
        """What the recurrent layer returns, from the stacked states."""
        if self.layer.return_sequences:
            sequence = ops.transpose(hidden, (1, 0, 2))
            return ops.flip(sequence, axis=1) if self.layer.go_backwards else sequence
        return hidden[-1]

    def per_example_loss(self, predictions, final_only):
        """Per-example losses of the model's compiled loss (or MSE)."""
        loss = _loss_function(self.model)
        y = ops.convert_to_tensor(self.y)
        if final_only and self.layer.return_sequences and len(predictions.shape) >= 3:
            predictions, y = predictions[:, -1], y[:, -1]
        values = loss(y, predictions)
        return ops.sum(values)

    def projections(self):
        """`(W x_t, U h_(t-1))` of every step, each (T, B, G*units): an MI
        cell's own input projection and recurrent term of Eq. 4 (`U m_t`
        for the mLSTM)."""
        hidden = self.run()[0]
        batch = self.sequences.shape[0]
        h0 = ops.zeros((1, batch, self.units), dtype=hidden.dtype)
        h_prev = ops.concatenate([h0, hidden[:-1]], axis=0)
        x_tm = ops.transpose(self.sequences, (1, 0, 2))
        if hasattr(self.cell, "recurrent_term"):  # an MI cell
            terms = self.cell.project_inputs(x_tm, time_major=True)
            return terms[0], self.cell.recurrent_term(terms, h_prev)
        # Keras' own cells (the additive baselines).
        return (ops.matmul(x_tm, self.cell.kernel),
                ops.matmul(h_prev, self.cell.recurrent_kernel))


def _hidden_size(cell):
    size = cell.state_size
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def _loss_function(model):
    """Per-example loss values `f(y_true, y_pred)` of the compiled loss."""
    loss = getattr(model, "loss", None)
    if loss is None:
        loss = "mean_squared_error"
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError(
            "The gradient monitor needs a model compiled with a single loss; "
            f"got loss={loss!r}."
        )
    loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call  # unreduced: one value per example (and step)
    return loss
