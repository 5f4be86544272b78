"""Every paper experiment, once: the runner (run_all.py), the report
(report.py) and the tests read this list.

For each experiment: whether it reads text (and takes `--dataset`), whether
it runs on the converged protocol (protocol.py), its seconds-long options
(`tiny`: every code path, nothing learnt), the backend its tiny run takes in
the test suite, and the claims its verdicts judge (criteria fixed before the
run, in verdicts.py).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    reads_text: bool
    converged: bool
    tiny: tuple
    tiny_backend: str
    judged: frozenset = frozenset()


# Seconds-long versions, for the tests (two seeds where the tests check
# error bars, one elsewhere; two settings in the coefficient search).
_TINY_TEXT = ("--steps", "4", "--units", "8", "--sequence-length", "12", "--batch-size", "4",
              "--evaluations", "2", "--validation-windows", "8", "--test-windows", "8")
_TINY_PROTOCOL = ("--steps", "4", "--eval-every", "2", "--convergence-window", "2",
                  "--units", "8", "--sequence-length", "12", "--batch-size", "4",
                  "--validation-windows", "8", "--test-windows", "8")

# In the order of docs/results.md. The tiny runs' backends share the
# suite's time about equally (measured); every experiment runs once per run
# of the test command.
_ALL = (
    Experiment("table1_init_scale", True, True,
               _TINY_PROTOCOL + ("--seeds", "1", "--scales", "0.02,0.6", "--search-steps", "2",
                                 "--search-grid", "1,0.5,0.5;2,1,1"),
               "torch", frozenset({"table1_init_scale", "scale_mechanism"})),
    Experiment("table1_paper_lr", True, True,
               _TINY_PROTOCOL + ("--seeds", "1", "--coefficients", "2,0.5,0.5"),
               "jax", frozenset({"table1_paper_lr"})),
    Experiment("fig1a_gradient_norms", True, True,
               _TINY_PROTOCOL + ("--seeds", "1", "--coefficients", "2,0.5,0.5"),
               "tensorflow", frozenset({"fig1a_gradient_norms"})),
    Experiment("fig1bcd_tanh_rnns", True, True,
               _TINY_PROTOCOL + ("--seeds", "2", "--coefficients", "2,0.5,0.5"),
               "torch", frozenset({"fig1b_final", "fig1b_speed", "fig1cd_saturation"})),
    Experiment("lstm_family", True, True, _TINY_PROTOCOL + ("--seeds", "1"),
               "jax", frozenset({"milstm_vs_lstm", "mlstm_vs_lstm"})),
    Experiment("multiplicative_embeddings", True, True, _TINY_PROTOCOL + ("--seeds", "1"),
               "torch", frozenset({"multdec_vs_lstm", "multdec_vs_concatenated",
                                   "multencdec_vs_multdec"})),
    Experiment("fig3_multitask", False, False,
               ("--seeds", "1", "--steps", "4", "--chunk", "2", "--tasks", "2,4",
                "--test-per-task", "4"),
               "torch", frozenset({"fig3_mi_better", "fig3_gap_grows"})),
    Experiment("sequential_digits_bn", False, False,
               ("--seeds", "1", "--steps", "4", "--eval-every", "2", "--units", "4"),
               "tensorflow", frozenset({"bn_faster"})),
    Experiment("bn_statistics", False, False,
               ("--seeds", "1", "--steps", "4", "--eval-every", "2", "--units", "4"),
               "jax", frozenset({"bn_per_step_statistics"})),
    Experiment("char_lm", True, False, _TINY_TEXT + ("--seeds", "1", "--models", "lstm,milstm-bn"),
               "jax"),
    Experiment("conversion", True, False, _TINY_TEXT + ("--seeds", "1"), "tensorflow"),
    # The tiny run has the dot product only.
    Experiment("fig2_learnability", False, False,
               ("--seeds", "1", "--steps", "50", "--batch-size", "20", "--dims", "2",
                "--sizes", "1,4", "--test-samples", "200", "--functions", "dot product"),
               "tensorflow", frozenset({"fig2_multiplicative"})),
)
EXPERIMENTS = {experiment.name: experiment for experiment in _ALL}
NAMES = tuple(EXPERIMENTS)


def module(name):
    """The experiment's module (its `main(argv)`, `NAME`)."""
    import importlib

    if name not in EXPERIMENTS:
        raise ValueError(f"{name!r} is not one of {', '.join(NAMES)}")
    return importlib.import_module(f"examples.paper.{name}")
