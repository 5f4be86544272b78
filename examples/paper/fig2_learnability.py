"""Fig. 2 of Jayakumar et al. (2020): how many parameters a model needs to
learn simple two-input functions.

For x, z ~ N(0, I_d): summation `x + z`, gating `x * sigmoid(z)` and the dot
product `<x, z>`, learnt by a one-hidden-layer MLP on `[x; z]`
(`linear(size), relu, linear(out)`) and by one Multiplicative Interaction
layer (hypernetwork form, `MI(size), linear(out)`), sweeping `size`. Adam,
mean squared error on batches of 100 fresh Gaussian samples, test MSE on
10,000 samples; a model "learns" the function when its test MSE is at most
0.1. Paper: for gating and the dot product the MLP's parameter count grows
far faster with d than the MI model's; summation is easier for the MLP.

    .venv/bin/python -m examples.paper.fig2_learnability [--seeds 3] [--steps 1500] [--dims 4] [--paper-scale]
"""

import os
import time

import keras
import numpy as np

from examples.paper import common, verdicts

from keras_mi import MultiplicativeInteraction

NAME = "fig2_learnability"
THRESHOLD = 0.1
FUNCTIONS = {
    "summation": (lambda x, z: x + z, "d"),
    "gating": (lambda x, z: x / (1.0 + np.exp(-z)), "d"),
    "dot product": (lambda x, z: np.sum(x * z, axis=-1, keepdims=True), 1),
}
MODELS = ("MLP", "MI")
SMALL = dict(seeds=3, steps=1500, batch_size=100, dims="4,8", sizes="1,2,4,8,16,32,64",
             learning_rates="0.001", test_samples=10_000)
# Appendix C: 6,000 Adam steps, batches of 100, the best of three learning
# rates, sizes swept over the list below, 10,000 test samples.
PAPER_SCALE = dict(seeds=3, steps=6000, batch_size=100, dims="2,4,8,16,32",
                   sizes="1,2,5,10,15,20,30,40,50,60,80,100,120,140,160,180,200",
                   learning_rates="0.1,0.001,0.0001", test_samples=10_000)


def build(kind, size, d, outputs, name=None):
    x = keras.Input((d,), name="x")
    z = keras.Input((d,), name="z")
    if kind == "MLP":
        hidden = keras.layers.Dense(size, activation="relu")(keras.layers.Concatenate()([x, z]))
    else:
        hidden = MultiplicativeInteraction(size, mode="hypernetwork")([x, z])
    return keras.Model([x, z], keras.layers.Dense(outputs)(hidden), name=name or kind)


def samples(rng, count, d, function):
    x = rng.standard_normal((count, d)).astype("float32")
    z = rng.standard_normal((count, d)).astype("float32")
    return x, z, FUNCTIONS[function][0](x, z).astype("float32")


def joint_model(sizes, d, outputs):
    """Every model of the sweep as independent branches of one Keras model:
    `(model, branches, loss)`, with `branches` a list of `(kind, size,
    branch model)` and `loss` the sum over branches of each one's MSE.

    No weight is shared, so each branch's gradient is the gradient of its
    own loss, and Adam's update of a weight depends on that weight's
    gradient alone: each branch trains exactly as it would alone on the same
    batches (one program instead of 2 x len(sizes), so the sweep runs in a
    fraction of the time).
    """
    x_in, z_in = keras.Input((d,), name="x"), keras.Input((d,), name="z")
    branches = [(kind, size, build(kind, size, d, outputs, f"{kind}_{size}"))
                for kind in MODELS for size in sizes]
    # One output holding every branch's prediction side by side, so that
    # the data is one array of targets, not one per branch.
    model = keras.Model([x_in, z_in], keras.layers.Concatenate()(
        [branch([x_in, z_in]) for _, _, branch in branches]))

    def summed_mse(target, predicted):
        predicted = keras.ops.reshape(predicted, (-1, len(branches), outputs))
        return keras.ops.sum(keras.ops.mean(
            keras.ops.square(predicted - keras.ops.expand_dims(target, 1)), axis=(0, 2)))

    return model, branches, summed_mse


def steps_per_call():
    # Several steps per call where the backend allows it (not PyTorch):
    # the models are tiny, so Keras' per-step overhead dominates.
    return 1 if keras.backend.backend() == "torch" else 50


def fit_all(sizes, d, function, seed, learning_rate, args, test):
    """Trains one model of each kind and size on the same batches (see
    `joint_model`) and returns {(kind, size): (parameters, test MSE)}."""
    common.set_seed(seed)
    x, z, y = samples(np.random.default_rng(seed), args.steps * args.batch_size, d, function)
    outputs = y.shape[-1]
    model, branches, loss = joint_model(sizes, d, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  steps_per_execution=steps_per_call())
    model.fit([x, z], y, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
    predicted = model.predict([test[0], test[1]], batch_size=1000, verbose=0)
    predictions = np.split(np.asarray(predicted, dtype="float64"), len(branches), axis=-1)
    found = {}
    for (kind, size, branch), prediction in zip(branches, predictions):
        mse = float(np.mean((prediction - test[2]) ** 2))
        found[kind, size] = (branch.count_params(), mse if np.isfinite(mse) else float("inf"))
    return found


def main(argv=None):
    def extra(parser):
        parser.add_argument("--dims", help="input sizes d (comma-separated)")
        parser.add_argument("--sizes", help="hidden sizes swept (comma-separated)")
        parser.add_argument("--learning-rates", help="Adam learning rates; the best is kept")
        parser.add_argument("--test-samples", type=int, help="samples for the test MSE")
        parser.add_argument("--functions", default=",".join(FUNCTIONS),
                            help=f"some of: {', '.join(FUNCTIONS)}")
        parser.add_argument("--resume", action="store_true",
                            help="keep the finished sweeps of NAME.partial.json in --out (same "
                                 "settings) and train only the others")

    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE, extra,
                                  text=False)
    if args.from_json:
        return common.redraw(args, (NAME,), summarize)
    functions, dims, sizes = sweep(args)
    rates = [float(r) for r in str(args.learning_rates).split(",")]
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    runs = common.load_partial(out, NAME, args) if args.resume else []
    done, resumed = {(r["function"], r["d"], r["seed"]) for r in runs}, len(runs)
    for function in functions:
        for d in dims:
            test = samples(np.random.default_rng(999), args.test_samples, d, function)
            for seed in range(args.seeds):
                if (function, d, seed) in done:
                    continue
                trained = [fit_all(sizes, d, function, seed, rate, args, test) for rate in rates]
                for kind in MODELS:
                    for size in sizes:
                        tried = [found[kind, size] for found in trained]
                        parameters = tried[0][0]
                        best = int(np.argmin([mse for _, mse in tried]))
                        runs.append({"function": function, "d": d, "model": kind, "size": size,
                                     "seed": seed, "parameters": parameters,
                                     "learning_rate": rates[best], "test_mse": tried[best][1]})
                common.save_partial(out, NAME, runs, args)
            print(f"{function}, d={d}: done", flush=True)
    runs.sort(key=lambda r: (functions.index(r["function"]), dims.index(r["d"]), r["seed"],
                             MODELS.index(r["model"]), sizes.index(r["size"])))
    return common.write_record(out, NAME, args, runs, summarize(args, runs, out), started,
                               resumed_runs=resumed)


def sweep(args):
    """The functions, input sizes and hidden sizes of the options."""
    dims = [int(d) for d in str(args.dims).split(",")]
    sizes = [int(s) for s in str(args.sizes).split(",")]
    functions = [f.strip() for f in args.functions.split(",")]
    for function in functions:
        if function not in FUNCTIONS:
            raise ValueError(f"Received an invalid value for argument `--functions`: "
                             f"{function!r}; expected some of {', '.join(FUNCTIONS)}.")
    return functions, dims, sizes


def summarize(args, runs, out):
    """The table, the verdicts and the figure from the runs (also `--from-json`)."""
    functions, dims, sizes = sweep(args)
    results, rows = {}, []
    for function in functions:
        for d in dims:
            key = f"{function}, d={d}"
            results[key] = {}
            for kind in MODELS:
                mine = [r for r in runs if r["function"] == function and r["d"] == d
                        and r["model"] == kind]
                needed = []
                for seed in range(args.seeds):
                    reached = [r["parameters"] for r in mine
                               if r["seed"] == seed and r["test_mse"] <= THRESHOLD]
                    needed.append(min(reached) if reached else None)
                found = [n for n in needed if n is not None]
                by_size = {str(s): common.summary([r["test_mse"] for r in mine if r["size"] == s])
                           for s in sizes}
                results[key][kind] = {
                    "parameters_needed": needed,
                    "parameters_needed_summary": common.summary(found) if found else None,
                    "seeds_reaching_threshold": len(found),
                    "test_mse_by_size": by_size,
                    "parameters_by_size": {str(s): next(r["parameters"] for r in mine
                                                        if r["size"] == s) for s in sizes},
                }
                result = results[key][kind]
                rows.append([function, d, kind,
                             common.pm(result["parameters_needed_summary"], 0) if found else
                             f"not reached (largest: {result['parameters_by_size'][str(sizes[-1])]:,})",
                             f"{len(found)}/{args.seeds}",
                             common.pm(by_size[str(sizes[-1])], 4)])
    table = {"columns": ["function", "d", "model", f"parameters to reach MSE <= {THRESHOLD}",
                         "seeds reaching it", f"test MSE at size {sizes[-1]}"], "rows": rows}
    figure = draw(os.path.join(out, f"{NAME}.png"), results, sizes)
    return common.Summary(results, table, [figure], judge(runs))


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    functions = {r["function"] for r in runs}
    claims = {}
    multiplicative = tuple(f for f in ("gating", "dot product") if f in functions)
    if multiplicative:  # judged on those run (the criterion asks for both)
        claims["fig2_multiplicative"] = (verdicts.CRITERIA["fig2_multiplicative"],
                                         verdicts.fig2_multiplicative(runs, multiplicative))
    if "summation" in functions:
        claims["fig2_summation"] = (verdicts.CRITERIA["fig2_summation"],
                                    verdicts.fig2_summation(runs))
    return claims


def draw(path, results, sizes):
    """Test MSE against parameters: one panel per function (columns) and
    input size (rows)."""
    plt = common.pyplot()
    functions = list(dict.fromkeys(key.rsplit(", d=", 1)[0] for key in results))
    dims = list(dict.fromkeys(int(key.rsplit(", d=", 1)[1]) for key in results))
    figure, axes = plt.subplots(len(dims), len(functions), squeeze=False,
                                figsize=(4.2 * len(functions), 3.4 * len(dims)))
    for row, d in enumerate(dims):
        for column, function in enumerate(functions):
            axis, key = axes[row][column], f"{function}, d={d}"
            for kind in MODELS:
                result = results[key][kind]
                parameters = [result["parameters_by_size"][str(s)] for s in sizes]
                mean = [result["test_mse_by_size"][str(s)]["mean"] for s in sizes]
                std = [result["test_mse_by_size"][str(s)]["std"] for s in sizes]
                axis.errorbar(parameters, mean, yerr=np.nan_to_num(std), marker="o",
                              capsize=2, label=kind)
            axis.axhline(THRESHOLD, color="grey", linestyle=":", label=f"MSE {THRESHOLD}")
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_ylim(bottom=1e-6)  # below: learnt exactly, up to float32
            axis.set_xlabel("parameters")
            axis.set_ylabel("test MSE")
            axis.set_title(key)
            axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    return common.save_figure(figure, path)


if __name__ == "__main__":
    main()
