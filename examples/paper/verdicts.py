"""The criteria that decide each claim's verdict, fixed before the runs.

Each `CRITERIA[name]` is the rule in words (stored in the experiment's JSON
as `criterion` and shown in docs/results.md above the numbers); the function
of the same name applies it to the experiment's numbers and returns
`{"verdict": one of VERDICTS, "because": a sentence with the numbers}`.
A claim about converged models is `inconclusive` while any of its runs did
not converge.
"""

import math

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

CRITERIA = {
    "table1_init_scale": (
        "Robustness to the scale of W: per seed, the population standard deviation of test BPC "
        "across the four r. Reproduced when MI-RNN's mean spread is below the RNN's by more than "
        "two standard errors (over seeds, sqrt(se_RNN^2 + se_MI^2)) and the RNN's spread across r "
        "exceeds three times its seed-to-seed spread (the mean over r of the standard deviation "
        "over seeds), so that there is an effect of r to be robust against. Not reproduced when "
        "the RNN shows that effect and MI-RNN's spread is not below it by two standard errors. "
        "Inconclusive when the RNN shows no effect of r beyond seed noise, or any run did not "
        "converge."),
    "table1_paper_lr": (
        "The paper's learning rate (Adam 1e-4, r in {0.02, 0.6}): the change of test BPC from "
        "r = 0.02 to r = 0.6, per model. Reproduced (the learning rate does not explain Table 1) "
        "when the RNN's change exceeds MI-RNN's in magnitude by more than two standard errors; "
        "not reproduced when it does not; inconclusive when any run did not converge."),
    "fig1b_final": (
        "Both MI-RNNs end below the vanilla RNN: reproduced when the test BPC of MI-RNN simple "
        "and of MI-RNN general are each below the vanilla RNN's by more than two standard errors; "
        "not reproduced when either is not; inconclusive when any run did not converge."),
    "fig1b_speed": (
        "General converges faster than simple: per seed, the first evaluation step at which the "
        "validation BPC is within 0.05 of the higher of the two models' final values. Reproduced "
        "when general gets there first in every seed, not reproduced when simple gets there first "
        "in every seed (ties count against), inconclusive otherwise."),
    "fig1cd_saturation": (
        "Saturation at the plateau: reproduced when, at the end of training, more than half of "
        "the vanilla RNN's hidden activations are saturated (|h| > 0.95), MI-RNN general's "
        "histogram peaks in the bins nearest 0 (|h| < 0.2) with less than half saturated, and "
        "MI-RNN general is less saturated than the vanilla RNN at equal validation BPC; not "
        "reproduced when any of these fails; inconclusive when any run did not converge."),
    "scale_mechanism": (
        "Section 3.1.2's observation: after training, ||W x_k|| is a lot smaller than "
        "||U h_(k-1)|| in both models. Reproduced when the ratio ||Wx|| / ||Uh|| (ScaleMonitor, "
        "validation windows) is below 0.5 in every seed for both the RNN and MI-RNN at r = 0.02; "
        "not reproduced when it is at least 1 in any seed of either model; inconclusive otherwise."),
    "milstm_vs_lstm": (
        "MI-LSTM beats the LSTM at equal parameter count (Wu et al. Table 1, text8): reproduced "
        "when MI-LSTM's test BPC is below the LSTM's by more than two standard errors over seeds; "
        "not reproduced when it is not; inconclusive when any run did not converge."),
    "mlstm_vs_lstm": (
        "The multiplicative LSTM beats the LSTM at equal parameter count: reproduced when mLSTM's "
        "test BPC is below the LSTM's by more than two standard errors over seeds; not reproduced "
        "when it is not; inconclusive when any run did not converge."),
    "multdec_vs_lstm": (
        "Jayakumar et al. Table 1: a multiplicative output embedding (MultDec) improves the "
        "tied-embedding LSTM language model. Reproduced when LSTM + MultDec's test BPC is below "
        "the LSTM's by more than two standard errors over seeds; not reproduced when it is not; "
        "inconclusive when any run did not converge."),
    "multdec_vs_concatenated": (
        "The gain is the multiplicative term's: reproduced when LSTM + MultDec's test BPC is "
        "below that of the LSTM whose output embedding joins the same context c to h linearly "
        "(concatenation, MultDec without its bilinear term) by more than two standard errors "
        "over seeds; not reproduced when it is not; inconclusive when any run did not converge."),
    "multencdec_vs_multdec": (
        "Adding a multiplicative input embedding helps further (MultEncDec): reproduced when "
        "MI-LSTM + MultDec's test BPC is below LSTM + MultDec's by more than two standard errors "
        "over seeds; not reproduced when it is not; inconclusive when any run did not converge."),
    "fig3_mi_better": (
        "Jayakumar et al. Fig. 3: the task-conditioned multiplicative model fits the tasks better. "
        "Reproduced when the conditional MI model's log10 MSE after training is below both the "
        "conditional MLP's and the multi-headed MLP's by more than two standard errors over seeds, "
        "at every number of tasks; not reproduced otherwise."),
    "fig3_gap_grows": (
        "Its advantage grows with the number of tasks: per seed, the gap is the best other model's "
        "log10 MSE minus the MI model's; reproduced when the gap at the most tasks exceeds the gap "
        "at the fewest by more than two standard errors (paired over seeds), not reproduced when "
        "it does not exceed it at all, inconclusive in between."),
    "bn_faster": (
        "Recurrent batch normalization converges faster: per seed, the first validation step at "
        "which validation accuracy reaches 80 %. Reproduced when the BN-LSTM gets there before the "
        "LSTM in every seed; not reproduced when the LSTM gets there first (or the BN-LSTM never "
        "does) in every seed; inconclusive otherwise."),
    "bn_per_step_statistics": (
        "Per-timestep population statistics beat statistics shared across time: reproduced when "
        "the BN-LSTM with per-timestep statistics has a higher test accuracy than the one with "
        "shared statistics by more than two standard errors over seeds (same batches, same "
        "number of steps); not reproduced when it does not."),
    "fig1a_gradient_norms": (
        "Gradient flow: for each t in (0, 5, 10), lin-MI-RNN's log ||dC/dh_t|| rises over training "
        "(end minus start above 1 in every seed), ends above lin-RNN's by more than two standard "
        "errors, and lies above lin-RNN's at at least 90 % of the logged points after the first "
        "tenth of the run; and lin-RNN's change over training is smaller than lin-MI-RNN's. "
        "Reproduced when all hold, not reproduced otherwise (a norm that underflows to 0 counts "
        "as -inf)."),
    "fig2_multiplicative": (
        "Jayakumar et al. Fig. 2, gating and the dot product: per function, input size d and "
        "model, the fewest parameters with which a seed reaches test MSE <= 0.1 (infinite when "
        "no size of the sweep does), median over seeds. Reproduced when, for both functions, "
        "the MI model needs fewer parameters than the MLP at every d and the MLP's need grows "
        "more from the smallest to the largest d than MI's (ratio of needs; an MLP that reaches "
        "the threshold at the smallest d and not at the largest grows without bound). Not "
        "reproduced when, for either function, MI needs as many or more at some d where it "
        "reaches the threshold, or the MLP's need does not grow more. Inconclusive when a "
        "comparison has no number: neither model reaches the threshold at some d, or the MLP "
        "does not reach it at the smallest d."),
    "fig2_summation": (
        "Jayakumar et al. Fig. 2, summation (easy for the MLP): the same needs. Reproduced when "
        "the MLP needs no more parameters than the MI model at every d; not reproduced when it "
        "needs more at some d; inconclusive when either model does not reach the threshold at "
        "some d."),
}


def _mean_se(values):
    values = np.asarray(values, dtype="float64")
    se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else math.inf
    return float(values.mean()), float(se)


def _unconverged(runs):
    return [r for r in runs if not r.get("converged", False)]


def _inconclusive_unconverged(runs):
    late = _unconverged(runs)
    return {"verdict": INCONCLUSIVE,
            "because": f"{len(late)} of {len(runs)} runs did not converge before the step cap"}


def table1_init_scale(runs, models=("RNN", "MI-RNN")):
    """`runs`: dicts with `model`, `scale`, `seed`, `test_bpc`, `converged`."""
    if _unconverged(runs):
        return _inconclusive_unconverged(runs)
    rnn, mi = models
    seeds = sorted({r["seed"] for r in runs})
    scales = sorted({r["scale"] for r in runs})

    def bpc(model, seed, scale):
        return next(r["test_bpc"] for r in runs
                    if r["model"] == model and r["seed"] == seed and r["scale"] == scale)

    spread = {m: [float(np.std([bpc(m, s, r) for r in scales])) for s in seeds] for m in models}
    noise = float(np.mean([np.std([bpc(rnn, s, r) for s in seeds], ddof=1) for r in scales]))
    rnn_mean, rnn_se = _mean_se(spread[rnn])
    mi_mean, mi_se = _mean_se(spread[mi])
    margin = 2 * math.hypot(rnn_se, mi_se)
    numbers = (f"spread across r: {rnn} {rnn_mean:.4f} ± {rnn_se:.4f} (se), {mi} {mi_mean:.4f} ± "
               f"{mi_se:.4f}; two standard errors {margin:.4f}; {rnn}'s seed-to-seed spread "
               f"{noise:.4f}")
    if not rnn_mean > 3 * noise:
        return {"verdict": INCONCLUSIVE,
                "because": f"{numbers}: the RNN's spread across r is not above three times its "
                           "seed-to-seed spread"}
    if rnn_mean - mi_mean > margin:
        return {"verdict": REPRODUCED, "because": f"{numbers}: MI-RNN's spread is lower by more "
                                                  "than two standard errors"}
    return {"verdict": NOT_REPRODUCED,
            "because": f"{numbers}: MI-RNN's spread is not lower by two standard errors"}


def table1_paper_lr(runs, models=("RNN", "MI-RNN")):
    """The change from the smallest to the largest r, per model, per seed."""
    if _unconverged(runs):
        return _inconclusive_unconverged(runs)
    seeds = sorted({r["seed"] for r in runs})
    low, high = min(r["scale"] for r in runs), max(r["scale"] for r in runs)

    def bpc(model, seed, scale):
        return next(r["test_bpc"] for r in runs
                    if r["model"] == model and r["seed"] == seed and r["scale"] == scale)

    change = {m: [abs(bpc(m, s, high) - bpc(m, s, low)) for s in seeds] for m in models}
    (rnn_mean, rnn_se), (mi_mean, mi_se) = _mean_se(change[models[0]]), _mean_se(change[models[1]])
    margin = 2 * math.hypot(rnn_se, mi_se)
    numbers = (f"|BPC(r={high:g}) - BPC(r={low:g})|: {models[0]} {rnn_mean:.4f} ± {rnn_se:.4f} (se), "
               f"{models[1]} {mi_mean:.4f} ± {mi_se:.4f}; two standard errors {margin:.4f}")
    if rnn_mean - mi_mean > margin:
        return {"verdict": REPRODUCED, "because": numbers}
    return {"verdict": NOT_REPRODUCED, "because": numbers}


def fig1b_final(runs, baseline="vanilla-RNN", others=("MI-RNN-simple", "MI-RNN-general")):
    if _unconverged(runs):
        return _inconclusive_unconverged(runs)
    base_mean, base_se = _mean_se([r["test_bpc"] for r in runs if r["model"] == baseline])
    parts, ok = [], True
    for other in others:
        mean, se = _mean_se([r["test_bpc"] for r in runs if r["model"] == other])
        margin = 2 * math.hypot(base_se, se)
        ok &= base_mean - mean > margin
        parts.append(f"{other} {mean:.3f} (gap {base_mean - mean:.3f}, two se {margin:.3f})")
    because = f"test BPC: {baseline} {base_mean:.3f}; " + ", ".join(parts)
    return {"verdict": REPRODUCED if ok else NOT_REPRODUCED, "because": because}


def lower_than(runs, model, baseline, key="test_bpc"):
    """`model`'s `key` below `baseline`'s by more than two standard errors."""
    chosen = [r for r in runs if r["model"] in (model, baseline)]
    if _unconverged(chosen):
        return _inconclusive_unconverged(chosen)
    m_mean, m_se = _mean_se([r[key] for r in chosen if r["model"] == model])
    b_mean, b_se = _mean_se([r[key] for r in chosen if r["model"] == baseline])
    margin = 2 * math.hypot(m_se, b_se)
    because = (f"test BPC {model} {m_mean:.3f} ± {m_se:.3f} (se), {baseline} {b_mean:.3f} ± "
               f"{b_se:.3f}; gap {b_mean - m_mean:+.3f}, two standard errors {margin:.3f}")
    return {"verdict": REPRODUCED if b_mean - m_mean > margin else NOT_REPRODUCED,
            "because": because}


def higher_than(runs, model, baseline, key):
    """`model`'s `key` above `baseline`'s by more than two standard errors
    (runs of a fixed number of steps: no convergence to check)."""
    m_mean, m_se = _mean_se([r[key] for r in runs if r["model"] == model])
    b_mean, b_se = _mean_se([r[key] for r in runs if r["model"] == baseline])
    margin = 2 * math.hypot(m_se, b_se)
    because = (f"{key.replace('_', ' ')} {model} {m_mean:.3f} ± {m_se:.3f} (se), {baseline} "
               f"{b_mean:.3f} ± {b_se:.3f}; gap {m_mean - b_mean:+.3f}, two standard errors "
               f"{margin:.3f}")
    return {"verdict": REPRODUCED if m_mean - b_mean > margin else NOT_REPRODUCED,
            "because": because}


def fig3_mi_better(runs, mi="conditional MI", key="log10_mse"):
    """`runs`: dicts with `model`, `tasks`, `seed`, `log10_mse`."""
    others = sorted({r["model"] for r in runs} - {mi})
    ok, parts = True, []
    for tasks in sorted({r["tasks"] for r in runs}):
        m_mean, m_se = _mean_se([r[key] for r in runs if r["model"] == mi and r["tasks"] == tasks])
        for other in others:
            o_mean, o_se = _mean_se([r[key] for r in runs
                                     if r["model"] == other and r["tasks"] == tasks])
            margin = 2 * math.hypot(m_se, o_se)
            ok &= o_mean - m_mean > margin
            parts.append(f"T={tasks}: {other} minus MI {o_mean - m_mean:+.3f} (two se {margin:.3f})")
    return {"verdict": REPRODUCED if ok else NOT_REPRODUCED,
            "because": "log10 MSE, " + "; ".join(parts)}


def fig3_gap_grows(runs, mi="conditional MI", key="log10_mse"):
    counts = sorted({r["tasks"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    others = sorted({r["model"] for r in runs} - {mi})

    def gap(tasks, seed):
        value = {r["model"]: r[key] for r in runs if r["tasks"] == tasks and r["seed"] == seed}
        return min(value[o] for o in others) - value[mi]

    growth = [gap(counts[-1], s) - gap(counts[0], s) for s in seeds]
    mean, se = _mean_se(growth)
    because = (f"gap (best other minus MI, log10 MSE) at T={counts[-1]} minus at T={counts[0]}: "
               f"{mean:+.3f} ± {se:.3f} (se over {len(seeds)} seeds)")
    if mean > 2 * se:
        return {"verdict": REPRODUCED, "because": because}
    if mean <= 0:
        return {"verdict": NOT_REPRODUCED, "because": because}
    return {"verdict": INCONCLUSIVE, "because": because}


def steps_to_accuracy(curve, target):
    """The first validation step whose accuracy is at least `target` (None if never)."""
    for step, value in zip(curve["steps"], curve["validation_accuracy"]):
        if value >= target:
            return step
    return None


def bn_faster(runs, fast="BN-LSTM", slow="LSTM"):
    outcomes, detail = [], []
    for seed in sorted({r["seed"] for r in runs}):
        a = next(r for r in runs if r["model"] == fast and r["seed"] == seed)["steps_to_target"]
        b = next(r for r in runs if r["model"] == slow and r["seed"] == seed)["steps_to_target"]
        detail.append(f"seed {seed}: {fast} {a}, {slow} {b}")
        outcomes.append(a is not None and (b is None or a < b))
    because = "steps to 80 % validation accuracy: " + "; ".join(detail)
    if all(outcomes):
        return {"verdict": REPRODUCED, "because": because}
    if not any(outcomes):
        return {"verdict": NOT_REPRODUCED, "because": because}
    return {"verdict": INCONCLUSIVE, "because": because}


def steps_to_reach(curve, target):
    """The first evaluation step whose validation BPC is at most `target`
    (None if never)."""
    for step, value in zip(curve["steps"], curve["validation_bpc"]):
        if value <= target:
            return step
    return None


def fig1b_speed(runs, fast="MI-RNN-general", slow="MI-RNN-simple", tolerance=0.05):
    seeds = sorted({r["seed"] for r in runs})
    outcomes, detail = [], []
    for seed in seeds:
        a = next(r for r in runs if r["model"] == fast and r["seed"] == seed)
        b = next(r for r in runs if r["model"] == slow and r["seed"] == seed)
        target = max(a["curve"]["validation_bpc"][-1], b["curve"]["validation_bpc"][-1]) + tolerance
        sa, sb = steps_to_reach(a["curve"], target), steps_to_reach(b["curve"], target)
        detail.append(f"seed {seed}: {fast} {sa}, {slow} {sb} steps to {target:.3f}")
        outcomes.append(sa is not None and (sb is None or sa < sb))
    because = "; ".join(detail)
    if all(outcomes):
        return {"verdict": REPRODUCED, "because": because}
    if not any(outcomes):
        return {"verdict": NOT_REPRODUCED, "because": because}
    return {"verdict": INCONCLUSIVE, "because": because}


def saturation_at_bpc(curve, saturation, target):
    """The saturation logged at the first evaluation whose validation BPC is
    at most `target` (curve and saturation on the same steps), or None."""
    step = steps_to_reach(curve, target)
    if step is None:
        return None
    return saturation["fraction"][saturation["steps"].index(step)]


def fig1cd_saturation(runs, vanilla="vanilla-RNN", mi="MI-RNN-general", near_zero=0.2,
                      bin_edges=None):
    """`runs` carry `final_saturation`, `histogram` (fractions over
    `bin_edges`), `curve` and `saturation` (steps, fraction)."""
    if _unconverged(runs):
        return _inconclusive_unconverged(runs)
    v_runs = [r for r in runs if r["model"] == vanilla]
    m_runs = [r for r in runs if r["model"] == mi]
    v_sat = float(np.mean([r["final_saturation"] for r in v_runs]))
    m_sat = float(np.mean([r["final_saturation"] for r in m_runs]))
    histogram = np.mean([r["histogram"] for r in m_runs], axis=0)
    edges = np.asarray(bin_edges)
    centres = (edges[:-1] + edges[1:]) / 2
    peak = float(centres[int(np.argmax(histogram))])
    # At equal validation BPC: the vanilla RNN's final BPC, reached by MI.
    paired = []
    for v in v_runs:
        m = next(r for r in m_runs if r["seed"] == v["seed"])
        target = v["curve"]["validation_bpc"][-1]
        at = saturation_at_bpc(m["curve"], m["saturation"], target)
        paired.append((v["final_saturation"], at))
    equal = all(at is not None and at < sat for sat, at in paired)
    because = (f"saturated at the end: {vanilla} {100 * v_sat:.1f} %, {mi} {100 * m_sat:.1f} %; "
               f"{mi}'s histogram peaks at h = {peak:+.2f}; at {vanilla}'s final validation BPC "
               f"{mi} is saturated " + ", ".join(
                   "never reached" if at is None else f"{100 * at:.1f} %" for _, at in paired)
               + " against " + ", ".join(f"{100 * s:.1f} %" for s, _ in paired))
    ok = v_sat > 0.5 and abs(peak) < near_zero and m_sat < 0.5 and equal
    return {"verdict": REPRODUCED if ok else NOT_REPRODUCED, "because": because}


def scale_mechanism(ratios):
    """`ratios`: {model: [||Wx|| / ||Uh|| per seed]}."""
    everything = [v for values in ratios.values() for v in values]
    because = "||Wx|| / ||Uh|| after training: " + ", ".join(
        f"{m} " + ", ".join(f"{v:.3f}" for v in values) for m, values in ratios.items())
    if all(v < 0.5 for v in everything):
        return {"verdict": REPRODUCED, "because": because}
    if any(v >= 1 for v in everything):
        return {"verdict": NOT_REPRODUCED, "because": because}
    return {"verdict": INCONCLUSIVE, "because": because}


def fig1a_gradient_norms(curves, rnn="lin-RNN", mi="lin-MI-RNN", timesteps=(0, 5, 10)):
    """`curves`: {model: {t: [(steps, log norms) per seed]}}; the same steps
    for both models within a seed."""
    failures, detail = [], []
    for t in timesteps:
        m_runs, r_runs = curves[mi][t], curves[rnn][t]
        m_change = [values[-1] - values[0] for _, values in m_runs]
        r_change = [values[-1] - values[0] for _, values in r_runs]
        m_end, m_se = _mean_se([values[-1] for _, values in m_runs])
        r_end, r_se = _mean_se([values[-1] for _, values in r_runs])
        above = []
        for (steps, m_values), (_, r_values) in zip(m_runs, r_runs):
            start = steps[-1] / 10
            pairs = [(a, b) for s, a, b in zip(steps, m_values, r_values) if s > start]
            above.append(np.mean([a > b for a, b in pairs]) if pairs else 0.0)
        checks = {
            "rises": all(c > 1 for c in m_change),
            "ends above": m_end - r_end > 2 * math.hypot(m_se, r_se),
            "above over the run": min(above) >= 0.9,
            "lin-RNN flatter": abs(np.mean(r_change)) < abs(np.mean(m_change)),
        }
        failures += [f"t={t}: {k}" for k, v in checks.items() if not v]
        detail.append(f"t={t}: {mi} change {np.mean(m_change):+.2f}, end {m_end:.2f}; {rnn} change "
                      f"{np.mean(r_change):+.2f}, end {r_end:.2f}; {mi} above at "
                      f"{100 * min(above):.0f} % of points (worst seed)")
    because = "; ".join(detail) + ("" if not failures else "; fails: " + ", ".join(failures))
    return {"verdict": NOT_REPRODUCED if failures else REPRODUCED, "because": because}


def fig2_needs(runs, function, model, threshold=0.1):
    """{d: the median over seeds of the fewest parameters reaching test MSE
    <= threshold (inf for a seed where no size does)}."""
    seeds = sorted({r["seed"] for r in runs})
    needs = {}
    for d in sorted({r["d"] for r in runs if r["function"] == function}):
        per_seed = []
        for seed in seeds:
            reached = [r["parameters"] for r in runs
                       if r["function"] == function and r["d"] == d and r["model"] == model
                       and r["seed"] == seed and r["test_mse"] <= threshold]
            per_seed.append(min(reached) if reached else math.inf)
        needs[d] = float(np.median(per_seed))
    return needs


def _needs_text(function, mlp, mi):
    def one(value):
        return "not reached" if math.isinf(value) else f"{value:,.0f}"
    return f"{function}: " + "; ".join(f"d={d} MLP {one(mlp[d])} / MI {one(mi[d])}" for d in mlp)


def fig2_multiplicative(runs, functions=("gating", "dot product"), mlp="MLP", mi="MI"):
    outcomes, parts = [], []
    for function in functions:
        mlp_needs, mi_needs = fig2_needs(runs, function, mlp), fig2_needs(runs, function, mi)
        parts.append(_needs_text(function, mlp_needs, mi_needs))
        dims = sorted(mlp_needs)
        low, high = dims[0], dims[-1]
        if any(math.isinf(mlp_needs[d]) and math.isinf(mi_needs[d]) for d in dims) \
                or math.isinf(mlp_needs[low]):
            outcomes.append(INCONCLUSIVE)
            continue
        fewer = all(mi_needs[d] < mlp_needs[d] for d in dims)
        mlp_growth = mlp_needs[high] / mlp_needs[low]
        mi_growth = mi_needs[high] / mi_needs[low]
        outcomes.append(REPRODUCED if fewer and mlp_growth > mi_growth else NOT_REPRODUCED)
    if NOT_REPRODUCED in outcomes:
        verdict = NOT_REPRODUCED
    elif INCONCLUSIVE in outcomes:
        verdict = INCONCLUSIVE
    else:
        verdict = REPRODUCED
    return {"verdict": verdict, "because": "parameters to MSE <= 0.1 (median over seeds): "
                                           + "; ".join(parts)}


def fig2_summation(runs, function="summation", mlp="MLP", mi="MI"):
    mlp_needs, mi_needs = fig2_needs(runs, function, mlp), fig2_needs(runs, function, mi)
    because = "parameters to MSE <= 0.1 (median over seeds): " + _needs_text(
        function, mlp_needs, mi_needs)
    if any(math.isinf(v) for v in (*mlp_needs.values(), *mi_needs.values())):
        return {"verdict": INCONCLUSIVE, "because": because}
    if all(mlp_needs[d] <= mi_needs[d] for d in mlp_needs):
        return {"verdict": REPRODUCED, "because": because}
    return {"verdict": NOT_REPRODUCED, "because": because}
