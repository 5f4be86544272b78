"""Recurrent batch and layer normalization for the LSTM-family cells.

Batch normalization follows Cooijmans et al. (2017): the input projection
`Wx` and the recurrent projection `Uh` are normalized separately, and the cell
state before the output nonlinearity,

    z   = MI(gamma_x * BN(Wx), gamma_h * BN(Uh)) + b
    h_t = o_t * tanh(gamma_c * BN(c_t) + beta_c)

with learned gains shared across time (no shift where a bias already exists)
and statistics kept separately for each timestep. Layer normalization (Ba et
al. 2016) normalizes the same three quantities over their features, per
example and per step, and needs no statistics.
"""

from keras import ops

from keras_mi.backend import engines

NORMALIZATIONS = (None, "batch", "layer")
# Population statistics of batch normalization: one per timestep, or shared.
STATISTICS = ("per_step", "shared")


def normalize(values, mean, variance, epsilon):
    """`(values - mean) / sqrt(variance + epsilon)`."""
    return (values - mean) * ops.rsqrt(variance + epsilon)


def layer_moments(values):
    """Mean and variance over the last (feature) axis, kept for broadcast."""
    return (
        ops.mean(values, axis=-1, keepdims=True),
        ops.var(values, axis=-1, keepdims=True),
    )


def batch_moments(values, synchronized=False):
    """Mean and variance over the batch (first) axis.

    For a step `(batch, features)` this gives `(features,)`; for a sequence
    `(batch, timesteps, features)` it gives the statistics of each timestep,
    `(timesteps, features)`. `synchronized`: over the global batch of all
    replicas (see `keras_mi.backend.engines.synchronized_batch_moments`).
    """
    if synchronized:
        return engines.synchronized_batch_moments(values)
    return ops.mean(values, axis=0), ops.var(values, axis=0)


def statistics_at(table, step, dtype):
    """Rows of a per-timestep `table` at each sequence's step counter.

    `step` has shape `(batch, 1)`; steps past the table's last row reuse the
    last row, as Cooijmans et al. do for sequences longer than in training.
    """
    rows = ops.shape(table)[0]
    index = ops.clip(ops.cast(step[:, 0], "int32"), 0, rows - 1)
    return ops.cast(ops.take(table, index, axis=0), dtype)


def moving_average_update(variable, batch_values, momentum):
    """Moves the first rows of `variable` toward `batch_values`.

    `batch_values` holds `k <= rows` rows (the statistics of the first `k`
    timesteps); the other rows are left as they are. A batch whose
    statistics are not all finite (an input with a NaN or an infinity)
    leaves the population statistics unchanged: one bad batch must not
    poison every later inference.
    """
    count = batch_values.shape[0]
    batch_values = ops.cast(ops.stop_gradient(batch_values), variable.dtype)
    updated = variable[:count] * momentum + batch_values * (1.0 - momentum)
    finite = ops.all(ops.isfinite(batch_values))
    updated = ops.where(finite, updated, variable[:count])
    if count < variable.shape[0]:
        updated = ops.concatenate([updated, variable[count:]], axis=0)
    variable.assign(updated)


QUANTITIES = ("input", "recurrent", "cell")  # W x, U h and c_t


class RecurrentNormalization:
    """The normalization of one LSTM-family cell, in one object: its gains
    (`input_gamma`, `recurrent_gamma`, `cell_gamma`), its shift
    (`cell_beta`) and, for batch normalization, its population statistics
    (`moving_{input,recurrent,cell}_{mean,variance}`), with what is done
    with them: normalize `W x`, `U h` or `c_t` inside a step (`for_step`
    gives the step's hook) and move the statistics after a training loop
    (`update`).

    The weights are created on the cell (`cell.add_weight`, in the order
    above), so they are the cell's weights, saved and loaded as the cell's,
    with the same names as before this object held them.
    """

    def __init__(self, cell, kind, widths, rows, gamma_initializer, momentum, epsilon,
                 synchronized=False):
        self.kind, self.momentum, self.epsilon = kind, momentum, epsilon
        self.synchronized = synchronized
        self.gains = {
            name: cell.add_weight(shape=(widths[name],), name=f"{name}_gamma",
                                  initializer=gamma_initializer)
            for name in QUANTITIES
        }
        self.shift = cell.add_weight(shape=(widths["cell"],), name="cell_beta",
                                     initializer="zeros")
        self.statistics = {}
        if kind != "batch":
            return
        for name in QUANTITIES:
            self.statistics[name] = tuple(
                cell.add_weight(
                    shape=(rows, widths[name]),
                    name=f"moving_{name}_{moment}",
                    initializer=initializer,
                    trainable=False,
                    # Under a tf.distribute strategy every replica's update
                    # is averaged, so that the replicas keep one population
                    # estimate.
                    aggregation="mean",
                )
                for moment, initializer in (("mean", "zeros"), ("variance", "ones"))
            )

    def weights_by_name(self):
        """{weight name: variable}: the gains, the shift, the statistics."""
        named = {f"{name}_gamma": gain for name, gain in self.gains.items()}
        named["cell_beta"] = self.shift
        for name, (mean, variance) in self.statistics.items():
            named[f"moving_{name}_mean"] = mean
            named[f"moving_{name}_variance"] = variance
        return named

    def normalized(self, name, values, step=None, training=False):
        """`values` (the quantity `name` of `QUANTITIES`) normalized, then
        scaled by its gain (and shifted, for the cell state): by its own
        moments with layer normalization, by the batch's in training with
        batch normalization, else by the population statistics at each
        sequence's `step`."""
        if self.kind == "layer":
            mean, variance = layer_moments(values)
        elif training:
            mean, variance = batch_moments(values, self.synchronized)
        else:
            table_mean, table_variance = self.statistics[name]
            mean = statistics_at(table_mean, step, values.dtype)
            variance = statistics_at(table_variance, step, values.dtype)
        result = normalize(values, mean, variance, self.epsilon) * self.gains[name]
        return result + self.shift if name == "cell" else result

    def for_step(self, step, training):
        """The `normalizer` hook of `keras_mi.backend.cell_steps.LSTMMath`."""
        return _StepHook(self, step, training)

    def update(self, values, shared=False):
        """Moves the population statistics toward the batch moments of
        `values` ({quantity: `(batch, steps, width)`}): per timestep, or,
        with `shared`, over the batch and all steps."""
        for name, value in values.items():
            if shared:  # every step of every sequence is one sample
                value = ops.reshape(value, (-1, value.shape[-1]))
            mean, variance = batch_moments(value, self.synchronized)
            if shared:
                mean, variance = mean[None], variance[None]
            for table, statistic in zip(self.statistics[name], (mean, variance)):
                moving_average_update(table, statistic, self.momentum)


class _StepHook:
    def __init__(self, normalization, step, training):
        self.normalization, self.step, self.training = normalization, step, training

    def _normalized(self, name, values):
        return self.normalization.normalized(name, values, self.step, self.training)

    def input(self, wx):
        return self._normalized("input", wx)

    def recurrent(self, uh):
        return self._normalized("recurrent", uh)

    def cell(self, c):
        return self._normalized("cell", c)
