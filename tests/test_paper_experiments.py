"""The paper experiments (examples/paper) at a tiny size: every script runs end
to end (each on one backend, see TINY_BACKEND) and writes its JSON and
figures; the runner's table and docs/results.md's generated sections are
read from those JSON files."""

import importlib
import json
import pathlib

import keras
import numpy as np
import pytest

from examples.paper import registry

PAPER = pathlib.Path(__file__).resolve().parents[1] / "examples" / "paper"


def load(name):
    return importlib.import_module(f"examples.paper.{name}")


# What each experiment's "results" must hold, per model.
EXPECTED = {
    "table1_init_scale": ({"RNN", "MI-RNN"}, {"test_bpc", "std_across_scales", "converged"}),
    "table1_paper_lr": ({"RNN", "MI-RNN"}, {"test_bpc", "std_across_scales", "converged"}),
    "fig1a_gradient_norms": ({"lin-RNN", "lin-MI-RNN"}, {"log_gradient_norm", "test_bpc"}),
    "fig1bcd_tanh_rnns": (
        {"vanilla-RNN", "MI-RNN-simple", "MI-RNN-general"},
        {"curve", "test_bpc", "final_saturation", "mean_abs_activation", "histogram"},
    ),
    "lstm_family": ({"LSTM", "MI-LSTM", "mLSTM"}, {"units", "parameters", "test_bpc"}),
    "multiplicative_embeddings": (
        {"LSTM", "LSTM + concatenated context", "LSTM + MultDec", "MI-LSTM + MultDec"},
        {"parameters", "test_bpc", "converged"},
    ),
    "sequential_digits_bn": ({"LSTM", "BN-LSTM"}, {"test_accuracy", "reached", "curve"}),
    "bn_statistics": ({"BN-LSTM", "BN-LSTM, shared statistics"},
                      {"test_accuracy", "reached", "curve"}),
    "fig3_multitask": ({"conditional MLP", "multi-headed MLP", "conditional MI"}, {"2", "4"}),
    "char_lm": (
        {"LSTM", "MI-LSTM + batch norm"},
        {"units", "parameters", "test_bpc", "curve", "train_seconds"},
    ),
    "conversion": (
        {"LSTM, trained on", "LSTM -> MI-LSTM, fine-tuned", "difference"}, set()),
    "fig2_learnability": ({"dot product, d=2"}, set()),
}
# The experiments judged by criteria fixed before the run (each claim they
# judge), and the backend each one's tiny run takes in this suite (the test
# command runs the suite once per backend: every experiment runs once per
# run of the command). The scripts are backend-neutral Keras over keras_mi,
# whose layers, models and callbacks are tested on every backend;
# `python -m examples.paper.run_all --tiny` runs all twelve on whichever
# backend is set.
JUDGED = {name: set(e.judged) for name, e in registry.EXPERIMENTS.items() if e.judged}
TINY_BACKEND = {name: e.tiny_backend for name, e in registry.EXPERIMENTS.items()}
BACKEND = keras.backend.backend()
HERE = [name for name in EXPECTED if TINY_BACKEND[name] == BACKEND]


def runs_here(name):
    return pytest.mark.skipif(
        TINY_BACKEND[name] != BACKEND,
        reason=f"the tiny {name} runs on {TINY_BACKEND[name]} in this suite")


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    table = load("run_all").main(["--tiny", "--out", str(out), "--only", ",".join(HERE)])
    return out, table


def test_every_experiment_runs_tiny_on_one_backend():
    assert set(TINY_BACKEND) == set(EXPECTED)
    assert set(TINY_BACKEND.values()) == {"tensorflow", "jax", "torch"}


def test_the_registry_lists_every_experiment():
    assert set(registry.NAMES) == set(EXPECTED)
    assert {name for name, e in registry.EXPERIMENTS.items() if e.converged} <= set(JUDGED)
    for name in registry.NAMES:
        assert registry.module(name).NAME == name
    with pytest.raises(ValueError, match="table9"):
        registry.module("table9")


def test_every_experiment_writes_its_json_and_figures(tiny_results):
    out, _ = tiny_results
    for name in HERE:
        models, keys = EXPECTED[name]
        record = json.loads((out / name / f"{name}.json").read_text())
        assert record["experiment"] == name
        assert set(record["results"]) == models, name
        for model in models - {"difference"}:
            assert keys <= set(record["results"][model]), (name, model)
        assert record["runs"] and record["table"]["rows"], name
        assert record["environment"]["command"].startswith(
            f".venv/bin/python -m examples.paper.{name} --out ")
        for figure in record["figures"]:
            assert (out / name / figure).read_bytes()[:4] == b"\x89PNG", (name, figure)
        if name in JUDGED:
            verdicts = load("verdicts")
            assert set(record["criterion"]) == set(record["verdict"]) == JUDGED[name], name
            for claim, outcome in record["verdict"].items():
                assert outcome["verdict"] in verdicts.VERDICTS, (name, claim)
                assert record["criterion"][claim] == verdicts.CRITERIA[claim]
            if registry.EXPERIMENTS[name].converged:
                assert all(isinstance(run["converged"], bool) for run in record["runs"]), name
    timings = json.loads((out / "runner.json").read_text())
    assert set(timings["seconds"]) == set(HERE) and not timings["failed"]


# What --from-json writes again exactly as the experiment wrote it: the
# run's own parts, and what is computed from the runs.
REDRAWN = ("experiment", "settings", "environment", "seconds", "runs", "results", "table",
           "figures", "criterion", "verdict", "protocol", "resumed_runs")


def redrawn(name, record_path, out):
    """The record `--from-json` writes in `out`, and its figures' bytes."""
    load(name).main(["--from-json", str(record_path), "--out", str(out)])
    record = json.loads((out / f"{name}.json").read_text())
    return record, {f: (out / f).read_bytes() for f in record["figures"]}


def test_from_json_rewrites_the_tiny_records(tiny_results, tmp_path):
    """Every experiment run here (char_lm and conversion have no committed
    record) redraws its own record: the same table, summaries and verdicts,
    and the same figures, drawn again."""
    out, _ = tiny_results
    for name in HERE:
        original = json.loads((out / name / f"{name}.json").read_text())
        record, figures = redrawn(name, out / name / f"{name}.json", tmp_path / name)
        for key in REDRAWN:
            assert record.get(key) == original.get(key), (name, key)
        assert set(figures) == set(original["figures"]) and figures, name
        assert all(data[:4] == b"\x89PNG" for data in figures.values()), name


@pytest.mark.skipif(BACKEND != "jax", reason="reads JSON and draws: run once, on jax")
def test_from_json_redraws_the_committed_records(tmp_path):
    """The committed records give back, with no data and no training, the
    tables, summaries and verdicts they hold, and their figures."""
    committed = PAPER.parents[1] / "docs" / "results"
    names = sorted(p.stem for p in committed.glob("*.json"))
    assert len(names) == 10
    for name in names:
        original = json.loads((committed / f"{name}.json").read_text())
        record, figures = redrawn(name, committed / f"{name}.json", tmp_path / name)
        for key in REDRAWN:
            assert record.get(key) == original.get(key), (name, key)
        assert sorted(figures) == sorted(original["figures"])
        for figure in figures:  # under the names the committed figures have
            assert (committed / figure).exists(), (name, figure)


def test_from_json_takes_only_out_and_a_record_of_its_experiment(tmp_path, capsys):
    committed = PAPER.parents[1] / "docs" / "results"
    with pytest.raises(SystemExit):
        load("lstm_family").main(["--from-json", str(committed / "lstm_family.json"),
                                  "--seeds", "2", "--out", str(tmp_path)])
    assert "argument --from-json: the record's own settings are used; --seeds" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        load("lstm_family").main(["--from-json", str(tmp_path / "none.json")])
    assert "argument --from-json: cannot read" in capsys.readouterr().err
    with pytest.raises(ValueError, match="argument `--from-json`: .* record of "
                                         "'fig3_multitask', not of 'lstm_family'"):
        load("lstm_family").main(["--from-json", str(committed / "fig3_multitask.json"),
                                  "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="record of 'table1_init_scale', not of "
                                         "'table1_paper_lr'"):
        load("table1_paper_lr").main(["--from-json", str(committed / "table1_init_scale.json"),
                                      "--out", str(tmp_path)])


@runs_here("fig1bcd_tanh_rnns")
def test_seeds_give_error_bars_from_the_runs(tiny_results):
    out, _ = tiny_results
    record = json.loads((out / "fig1bcd_tanh_rnns" / "fig1bcd_tanh_rnns.json").read_text())
    for model, result in record["results"].items():
        values = [r["test_bpc"] for r in record["runs"] if r["model"] == model]
        assert len(values) == 2
        assert result["test_bpc"]["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert result["test_bpc"]["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        # Histograms are fractions of all activations.
        assert sum(result["histogram"]) == pytest.approx(1.0, rel=1e-9)
    # Models compared within a seed saw the same batches: same validation
    # windows and step grid on every curve.
    steps = {tuple(r["curve"]["steps"]) for r in record["runs"]}
    assert steps == {(0, 2, 4)}


@runs_here("table1_init_scale")
def test_table1_spread_across_scales(tiny_results):
    out, _ = tiny_results
    record = json.loads((out / "table1_init_scale" / "table1_init_scale.json").read_text())
    seeds = sorted({r["seed"] for r in record["runs"]})
    for model in ("RNN", "MI-RNN"):
        per_seed = [
            np.std([r["test_bpc"] for r in record["runs"]
                    if r["model"] == model and r["seed"] == seed])
            for seed in seeds
        ]
        assert all(s > 0 for s in per_seed)  # two scales, two results per seed
        spread = record["results"][model]["std_across_scales"]
        assert spread["mean"] == pytest.approx(np.mean(per_seed), rel=1e-9)


@runs_here("fig1a_gradient_norms")
def test_gradient_norms_are_read_back_from_the_event_files(tiny_results):
    out, _ = tiny_results
    record = json.loads((out / "fig1a_gradient_norms" / "fig1a_gradient_norms.json").read_text())
    run = record["runs"][0]
    curves = load("fig1a_gradient_norms").read_gradient_norms(
        str(out / "fig1a_gradient_norms" / run["log_dir"]))
    for t, (steps, values) in curves.items():
        assert run["log_gradient_norm"][str(t)] == [steps, values]
        assert steps == [0, 2, 4]  # at initialisation, then every 2 of 4 steps


@runs_here("conversion")
def test_conversion_starts_from_the_lstm(tiny_results):
    out, _ = tiny_results
    record = json.loads((out / "conversion" / "conversion.json").read_text())
    for run in record["runs"]:
        if run["converted_test_bpc"] is not None:
            # The converted MI-LSTM computes the LSTM's function.
            assert run["converted_test_bpc"] == pytest.approx(run["base_test_bpc"], rel=1e-4)


@runs_here("conversion")
def test_runner_table_reads_the_json_files(tiny_results, tmp_path):
    out, table = tiny_results
    report = load("report")
    assert [row[0] for row in table["rows"]] == [
        name for name in registry.NAMES if name in HERE]
    record = json.loads((out / "conversion" / "conversion.json").read_text())
    difference = record["results"]["difference"]
    row = next(r for r in table["rows"] if r[0] == "conversion")
    finding = table["columns"].index("finding")
    assert f"{difference['mean']:.3f} BPC" in row[finding]  # one seed: no spread
    # The table follows the files: change one, and the table changes.
    record["results"]["difference"] = {"mean": 9.125, "std": 0.5, "n": 2}
    (tmp_path / "conversion.json").write_text(json.dumps(record))
    again = report.summary_table(report.load_records(str(tmp_path)))
    assert "9.125 ± 0.500" in again["rows"][0][finding]


@runs_here("conversion")
def test_docs_sections_are_rewritten_and_prose_kept(tiny_results, tmp_path):
    out, _ = tiny_results
    report = load("report")
    page = tmp_path / "results.md"
    page.write_text("# Results\nprose before\n<!-- generated: conversion -->\nold\n"
                    "<!-- end: conversion -->\nprose after\n")
    done = report.write_docs(report.load_records(str(out)), str(page), "results/")
    text = page.read_text()
    assert done == ["conversion"]  # the page has no other section
    assert "prose before" in text and "prose after" in text and "\nold\n" not in text
    assert "| continuation |" in text and "![conversion.png](results/conversion.png)" in text


def test_results_page_is_what_the_report_makes_of_the_committed_json(tmp_path):
    """docs/results.md cannot drift from its data: every generated part
    (tables, criteria, verdicts, settings, times) equals the report's output
    from the committed JSON files, and every committed experiment has its
    section on the page."""
    report = load("report")
    root = PAPER.parents[1]
    committed = (root / "docs" / "results.md").read_text()
    page = tmp_path / "results.md"
    page.write_text(committed)
    done = report.refresh_results_page(str(root), str(page))
    assert page.read_text() == committed
    for folder, summary in report.PAGE_SOURCES:
        records = report.load_records(str(root / folder))
        assert set(records) | {summary} <= set(done), folder
        for name, record in records.items():
            if "verdict" in record:
                # The stored verdicts are what the criteria give on the stored
                # runs today (JSON round trip: tuples come back as lists).
                claims = load(name).judge(record["runs"])
                recomputed = {c: outcome for c, (_, outcome) in claims.items()}
                assert recomputed == record["verdict"], name
                assert {c: text for c, (text, _) in claims.items()} == record["criterion"]


def test_paper_scale_sets_the_papers_settings_and_options_win():
    common = load("common")
    table1 = load("table1_init_scale")
    embedded = ["--dataset", "embedded"]  # the protocol's default corpus may not be built
    small = common.parse_arguments("t", embedded, table1.SMALL, table1.PAPER_SCALE)
    paper = common.parse_arguments("t", ["--paper-scale"] + embedded, table1.SMALL,
                                   table1.PAPER_SCALE)
    mixed = common.parse_arguments("t", ["--paper-scale", "--units", "64"] + embedded,
                                   table1.SMALL, table1.PAPER_SCALE)
    assert (small.units, small.learning_rate) == (128, 1e-3)
    assert (paper.units, paper.learning_rate, paper.sequence_length) == (2048, 1e-4, 50)
    assert (mixed.units, mixed.learning_rate) == (64, 1e-4)


def test_bad_options_are_named(tmp_path, capsys):
    common = load("common")
    table1 = load("table1_init_scale")
    with pytest.raises(SystemExit):
        common.parse_arguments("t", ["--dataset", str(tmp_path / "none")], table1.SMALL,
                               table1.PAPER_SCALE)
    assert "argument `dataset`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        common.parse_arguments("t", ["--seeds", "0"], table1.SMALL, table1.PAPER_SCALE)
    assert "argument --seeds: must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="argument `--models`: 'lstmx'"):
        load("char_lm").main(["--models", "lstmx", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="argument `--sequence-length`: 8; .* more than 10"):
        load("fig1a_gradient_norms").main(["--sequence-length", "8", "--dataset", "embedded",
                                           "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="argument `--coefficients`: '1,2'; expected 'search' or"):
        load("fig1bcd_tanh_rnns").main(["--coefficients", "1,2", "--dataset", "embedded",
                                        "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="argument `--eval-every`: 0; expected an integer"):
        load("lstm_family").main(["--eval-every", "0", "--dataset", "embedded",
                                  "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        load("run_all").main(["--only", "table9", "--out", str(tmp_path)])
    assert "argument --only: 'table9' is not one of" in capsys.readouterr().err


def test_text_experiments_read_any_dataset_folder(tmp_path):
    """A folder of text (the King James corpus's layout) works as --dataset."""
    builder = load("build_kjv_corpus")
    sample = "\n".join(
        f"\nBook {b} {c}\n\n  1 Verse one of {b} {c} with some\nwrapped words.\n"
        f"  2 Verse two of chapter {c}.\n" for b in ("Alpha", "Beta") for c in range(1, 41))
    chapters = builder.parse_chapters(sample)
    assert len(chapters) == 80
    builder.write_corpus(chapters, str(tmp_path / "corpus"))
    result = load("fig1a_gradient_norms").main(
        ["--dataset", str(tmp_path / "corpus"), "--seeds", "1", "--steps", "2", "--units", "4",
         "--sequence-length", "12", "--batch-size", "2", "--eval-every", "1",
         "--coefficients", "1,1,1", "--validation-windows", "2", "--test-windows", "0",
         "--out", str(tmp_path / "out")])
    # --test-windows 0: the whole test split, in consecutive windows.
    test_files = load("common").split_symbols(str(tmp_path / "corpus"), "test")
    assert result["runs"][0]["test_characters"] == (len(test_files) - 1) // 12 * 12
    # The compact vocabulary: the train split's characters and one id for the rest.
    assert result["protocol"]["vocabulary_size"] == len(set(
        load("common").split_symbols(str(tmp_path / "corpus"), "train").tolist())) + 1


def test_kjv_parser_joins_wrapped_verses_and_numbers_chapters(tmp_path):
    builder = load("build_kjv_corpus")
    text = ("\nGenesis 1\n\n  1 In the beginning God created the heaven and the earth.\n"
            "  2 And the earth was without form, and void; and darkness was upon the face of\n"
            "the deep.\n\n1 Kings 3\n\n  1 And Solomon made affinity.\n")
    chapters = builder.parse_chapters(text)
    assert chapters == [
        ("Genesis", 1, ["In the beginning God created the heaven and the earth.",
                        "And the earth was without form, and void; and darkness was upon "
                        "the face of the deep."]),
        ("1 Kings", 3, ["And Solomon made affinity."]),
    ]
    builder.write_corpus(chapters, str(tmp_path))
    assert (tmp_path / "02_1_Kings" / "003.txt").read_text() == "And Solomon made affinity.\n"
    with pytest.raises(ValueError, match="unexpected line before any verse"):
        builder.parse_chapters("stray text\n")


def test_mean_curve_holds_runs_that_stopped_early():
    common = load("common")
    curves = [{"steps": [0, 500, 1000], "validation_bpc": [4.0, 2.0, 1.8]},
              {"steps": [0, 500], "validation_bpc": [4.0, 2.2]}]  # converged at 500
    mean = common.mean_curve(curves)
    assert mean["steps"] == [0, 500, 1000]
    np.testing.assert_allclose(mean["mean"], [4.0, 2.1, 2.0])
    np.testing.assert_allclose(mean["std"][-1], np.std([1.8, 2.2], ddof=1))


def test_a_partial_record_is_continued_only_with_its_settings(tmp_path):
    """`--resume`: the runs of NAME.partial.json come back when the settings
    are the same (another --seeds may add runs); other settings are refused
    by name; a file without settings cannot be continued."""
    import argparse

    common = load("common")
    args = argparse.Namespace(seeds=1, steps=100, units=8, resume=False, out=str(tmp_path),
                              argv=[])
    runs = [{"model": "LSTM", "seed": 0, "test_bpc": np.float32(2.5)}]
    assert common.load_partial(str(tmp_path), "x", args) == []
    common.save_partial(str(tmp_path), "x", runs, args)
    more = argparse.Namespace(**{**vars(args), "seeds": 3, "resume": True})
    assert common.load_partial(str(tmp_path), "x", more) == [
        {"model": "LSTM", "seed": 0, "test_bpc": 2.5}]
    other = argparse.Namespace(**{**vars(args), "units": 16})
    with pytest.raises(ValueError, match=r"units=8 \(now 16\)"):
        common.load_partial(str(tmp_path), "x", other)
    # A record continued with --resume says that its time is its last
    # process's only.
    minutes = load("report")._minutes({"seconds": 90.0, "resumed_runs": 3})
    assert minutes.startswith("1.5 min in its last process (3 of its runs")
    assert load("report")._minutes({"seconds": 90.0}) == "1.5 min"
    common.save_partial(str(tmp_path), "x", runs)  # the older form: runs only
    with pytest.raises(ValueError, match="holds no settings"):
        common.load_partial(str(tmp_path), "x", args)


def test_fig2_branches_train_as_they_would_alone():
    """Fig. 2's sweep trains every model as a branch of one model whose loss
    is the sum of the branches' MSE. Each branch must end with the weights it
    gets when trained alone, from the same initial weights, on the same
    batches with its own Adam. Float32 training of 30 steps through two
    different programs: 1e-5 relative, 1e-6 absolute."""
    import keras

    fig2 = load("fig2_learnability")
    rng = np.random.default_rng(0)
    x, z, y = fig2.samples(rng, 30 * 8, 3, "gating")
    model, branches, loss = fig2.joint_model([2, 5], 3, 3)
    initial = [[w.copy() for w in branch.get_weights()] for _, _, branch in branches]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    model.fit([x, z], y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for (kind, size, branch), weights in zip(branches, initial):
        alone = fig2.build(kind, size, 3, 3)
        alone.set_weights(weights)
        alone.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        alone.fit([x, z], y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        for got, want in zip(branch.get_weights(), alone.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{kind} {size}")
        assert not np.allclose(alone.get_weights()[0], weights[0])  # it did train
