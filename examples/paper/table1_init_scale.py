"""Table 1 (top left) of Wu et al. (2016): robustness to the scale of W.

A tanh RNN and an MI-RNN (Eq. 4, coefficients initialised to (2, 0.5, 0.5))
with `U ~ U[-0.02, 0.02]` and `W ~ U[-r, r]`, r in {0.02, 0.1, 0.3, 0.6},
on one-hot characters; test BPC per r and the standard deviation across r.
Paper (Penn-Treebank, 2048 units): RNN 1.69, 1.65, 1.57, 1.54 (std 0.06);
MI-RNN 1.39, 1.40, 1.40, 1.41 (std 0.008).

    .venv/bin/python examples/paper/table1_init_scale.py [--seeds 3] [--steps 600] [--paper-scale]
"""

import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from keras_mi import MIRNN  # noqa: E402

NAME = "table1_init_scale"
SCALES = (0.02, 0.1, 0.3, 0.6)
PAPER = {"RNN": [1.69, 1.65, 1.57, 1.54, 0.06], "MI-RNN": [1.39, 1.40, 1.40, 1.41, 0.008]}
SMALL = dict(seeds=3, steps=600, units=128, sequence_length=50, batch_size=32,
             learning_rate=1e-3, evaluations=4, validation_windows=256, test_windows=2048)
# Section 4.1: 2048 units, sequences of 50, Adam 1e-4; steps and batch are
# not stated (about 20 passes over Penn-Treebank's 5M characters here).
PAPER_SCALE = dict(seeds=3, steps=60_000, units=2048, sequence_length=50, batch_size=32,
                   learning_rate=1e-4, evaluations=20, validation_windows=2048, test_windows=0)


def recurrent(kind, units, scale, seed):
    kernel = keras.initializers.RandomUniform(-scale, scale, seed=seed)
    recurrent_kernel = keras.initializers.RandomUniform(-0.02, 0.02, seed=seed + 1)
    layer = keras.layers.SimpleRNN if kind == "RNN" else MIRNN
    return layer(units, kernel_initializer=kernel, recurrent_initializer=recurrent_kernel,
                 return_sequences=True, name="recurrent")


def main(argv=None):
    args = common.parse_arguments(
        __doc__.split("\n")[0], argv, SMALL, PAPER_SCALE,
        extra=lambda p: p.add_argument(
            "--scales", default=",".join(map(str, SCALES)), help="the r of W ~ U[-r, r]"),
    )
    scales = [float(s) for s in args.scales.split(",")]
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    runs = []
    for seed in range(args.seeds):
        data = common.train_windows(args, seed)
        for scale in scales:
            for kind in ("RNN", "MI-RNN"):
                common.set_seed(seed)
                model = common.language_model(
                    recurrent(kind, args.units, scale, seed), args.sequence_length)
                common.compile_model(model, args.learning_rate)
                result = common.fit_language_model(model, args, seed, train=data)
                runs.append({"model": kind, "scale": scale, "seed": seed, **result})
                print(f"seed {seed} r={scale} {kind}: test BPC {result['test_bpc']:.3f} "
                      f"({result['train_seconds']:.0f} s)", flush=True)
    results, rows = {}, []
    for kind in ("RNN", "MI-RNN"):
        per_scale = {
            str(s): common.summary([r["test_bpc"] for r in runs
                                    if r["model"] == kind and r["scale"] == s])
            for s in scales
        }
        # The paper's "std": the spread of the test BPC across r, here per
        # seed (so that it gets an error bar of its own).
        spread = common.summary([
            np.std([r["test_bpc"] for r in runs
                    if r["model"] == kind and r["seed"] == seed], ddof=0)
            for seed in range(args.seeds)
        ])
        results[kind] = {"test_bpc": per_scale, "std_across_scales": spread}
        rows.append([kind] + [common.pm(per_scale[str(s)]) for s in scales]
                    + [common.pm(spread, 4)])
        if tuple(scales) == SCALES:
            rows.append([f"{kind} (paper)"] + [f"{v}" for v in PAPER[kind]])
    table = {"columns": ["model"] + [f"r={s}" for s in scales] + ["std across r"],
             "rows": rows}
    figure = draw(os.path.join(out, f"{NAME}.png"), results, scales)
    return common.write_record(out, NAME, args, runs, results, table, started, [figure])


def draw(path, results, scales):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for kind, result in results.items():
        means = [result["test_bpc"][str(s)]["mean"] for s in scales]
        stds = [result["test_bpc"][str(s)]["std"] for s in scales]
        axis.errorbar(scales, means, yerr=np.nan_to_num(stds), marker="o", capsize=3, label=kind)
    axis.set_xscale("log")
    axis.minorticks_off()
    axis.set_xticks(scales)
    axis.set_xticklabels([str(s) for s in scales])
    axis.set_xlabel("r  (W ~ U[-r, r])")
    axis.set_ylabel("test BPC")
    axis.set_title("sensitivity to the scale of W (mean ± std over seeds)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


if __name__ == "__main__":
    main()
