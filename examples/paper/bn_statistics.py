"""Recurrent batch normalization with per-timestep against shared population statistics (Cooijmans et al. 2017; the blog post seed, section 3).

The blog post, after Cooijmans et al.: "sharing the internal statistics
across time degrades performance severely", so each timestep keeps its own.
In training, both variants normalize each step by the statistics of its
batch (a recurrence sees one step at a time); they differ in the population
statistics used at inference, and so in every validation and test number:
`normalization_statistics="per_step"` (the layer's default) keeps one
estimate per timestep, `"shared"` one estimate pooled over the batch and all
64 steps of each training sequence.

The task, models and training are those of sequential_digits_bn.py (8 x 8
digits read pixel by pixel, 64 units, Adam 1e-3, batches of 64, clipping at
norm 1, gain 0.1, population momentum 0.9), with the same batches per seed.

    .venv/bin/python -m examples.paper.bn_statistics [--seeds 5] [--steps 3000]
"""


from examples.paper import sequential_digits_bn as digits_bn
from examples.paper import verdicts

NAME = "bn_statistics"
MODELS = ("BN-LSTM", digits_bn.SHARED)


def main(argv=None):
    return digits_bn.run(NAME, MODELS, __doc__.split("\n")[0], argv, judge)


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    return {"bn_per_step_statistics": (
        verdicts.CRITERIA["bn_per_step_statistics"],
        verdicts.higher_than(runs, "BN-LSTM", digits_bn.SHARED, key="test_accuracy"))}


if __name__ == "__main__":
    main()
