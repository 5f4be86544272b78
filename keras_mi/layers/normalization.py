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
