"""Runs every paper experiment at this machine's scale (or `--paper-scale`),
one after the other, and prints the summary table.

    .venv/bin/python examples/paper/run_all.py [--out runs/paper] [--dataset embedded]
    .venv/bin/python examples/paper/run_all.py --docs   # also refresh docs/results

Each experiment writes `OUT/NAME/NAME.json` and its figures; `runner.json`
records how long each took. `--docs` copies the JSON files and figures into
docs/results and rewrites the generated sections of docs/results.md.
"""

import argparse
import gc
import importlib
import json
import os
import shutil
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

# Experiments that read text (and take --dataset).
TEXT = {"table1_init_scale", "table1_paper_lr", "fig1a_gradient_norms", "fig1bcd_tanh_rnns",
        "lstm_family", "multiplicative_embeddings", "char_lm", "conversion"}
# The experiments on the converged protocol (protocol.py).
CONVERGED = {"table1_init_scale", "table1_paper_lr", "fig1a_gradient_norms", "fig1bcd_tanh_rnns",
             "lstm_family", "multiplicative_embeddings"}
# Seconds-long versions, for the tests: every code path, nothing learnt
# (two seeds where the tests check error bars, one elsewhere; two settings
# in the coefficient search).
_TINY_TEXT = ["--steps", "4", "--units", "8", "--sequence-length", "12", "--batch-size", "4",
              "--evaluations", "2", "--validation-windows", "8", "--test-windows", "8"]
_TINY_PROTOCOL = ["--steps", "4", "--eval-every", "2", "--convergence-window", "2", "--units", "8",
                  "--sequence-length", "12", "--batch-size", "4", "--validation-windows", "8",
                  "--test-windows", "8"]
TINY = {
    "table1_init_scale": _TINY_PROTOCOL + ["--seeds", "1", "--scales", "0.02,0.6",
                                           "--search-steps", "2",
                                           "--search-grid", "1,0.5,0.5;2,1,1"],
    # One seed where the tests read no spread over seeds (the verdicts'
    # arithmetic over seeds is tested in test_paper_verdicts.py).
    "table1_paper_lr": _TINY_PROTOCOL + ["--seeds", "1", "--coefficients", "2,0.5,0.5"],
    "fig1a_gradient_norms": _TINY_PROTOCOL + ["--seeds", "1", "--coefficients", "2,0.5,0.5"],
    "fig1bcd_tanh_rnns": _TINY_PROTOCOL + ["--seeds", "2", "--coefficients", "2,0.5,0.5"],
    "lstm_family": _TINY_PROTOCOL + ["--seeds", "1"],
    "multiplicative_embeddings": _TINY_PROTOCOL + ["--seeds", "1"],
    "sequential_digits_bn": ["--seeds", "1", "--steps", "4", "--eval-every", "2",
                             "--units", "4"],
    "bn_statistics": ["--seeds", "1", "--steps", "4", "--eval-every", "2", "--units", "4"],
    "fig3_multitask": ["--seeds", "1", "--steps", "4", "--chunk", "2", "--tasks", "2,4",
                       "--test-per-task", "4"],
    "char_lm": _TINY_TEXT + ["--seeds", "1", "--models", "lstm,milstm-bn"],
    "conversion": _TINY_TEXT + ["--seeds", "1"],
    "fig2_learnability": ["--seeds", "1", "--steps", "50", "--batch-size", "20", "--dims", "2",
                          "--sizes", "1,4", "--test-samples", "200",
                          "--functions", "dot product"],
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=os.path.join("runs", "paper"),
                        help="one folder per experiment goes here")
    parser.add_argument("--dataset", default=None,
                        help="for the text experiments (default: each one's, 'embedded')")
    parser.add_argument("--only", default=",".join(report.EXPERIMENTS),
                        help="comma-separated experiments to run")
    parser.add_argument("--paper-scale", action="store_true",
                        help="the papers' sizes and steps (days on a CPU)")
    parser.add_argument("--tiny", action="store_true",
                        help="seconds-long runs that check the code paths only")
    parser.add_argument("--docs", action="store_true",
                        help="copy the results into docs/results and refresh docs/results.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in names:
        if name not in report.EXPERIMENTS:
            parser.error(f"argument --only: {name!r} is not one of "
                         f"{', '.join(report.EXPERIMENTS)}")
    os.makedirs(args.out, exist_ok=True)
    timings, failed = {}, []
    for name in names:
        import keras

        argv_one = ["--out", os.path.join(args.out, name)]
        argv_one += TINY[name] if args.tiny else []
        argv_one += ["--paper-scale"] if args.paper_scale else []
        if args.dataset and name in TEXT:
            argv_one += ["--dataset", args.dataset]
        elif args.tiny and name in CONVERGED:
            argv_one += ["--dataset", "embedded"]  # the protocol's English corpus may be absent
        print(f"== {name} {' '.join(argv_one)}", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(name).main(argv_one)
        except Exception:  # one failure does not stop the others
            traceback.print_exc()
            failed.append(name)
        timings[name] = time.perf_counter() - started
        print(f"== {name}: {timings[name] / 60:.1f} min", flush=True)
        keras.utils.clear_session()
        gc.collect()
    # An experiment run again (--only) replaces its time in the record.
    record_path = os.path.join(args.out, "runner.json")
    record = {"seconds": {}, "argv": {}}
    if os.path.isfile(record_path):
        with open(record_path) as handle:
            record = json.load(handle)
        if not isinstance(record.get("argv"), dict):  # one command for all
            record["argv"] = {name: record.get("argv") for name in record["seconds"]}
    for name in names:
        record["seconds"][name] = timings[name]
        record["argv"][name] = sys.argv[1:] if argv is None else list(argv)
    record["total_seconds"] = sum(record["seconds"].values())
    record["failed"] = sorted(set(record.get("failed", [])) - set(names) | set(failed))
    with open(record_path, "w") as handle:
        json.dump(record, handle, indent=1)
    total = sum(timings.values())
    records = report.load_records(args.out)
    table = report.summary_table(records)
    print(report.common.format_table(table))
    print(f"total: {total / 60:.1f} min" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if args.docs:
        docs = os.path.join(HERE, os.pardir, os.pardir, "docs")
        target = os.path.join(docs, "results")
        os.makedirs(target, exist_ok=True)
        for name in names:
            for path in os.listdir(os.path.join(args.out, name)):
                if path.endswith((".json", ".png")):
                    shutil.copy(os.path.join(args.out, name, path), os.path.join(target, path))
        shutil.copy(os.path.join(args.out, "runner.json"), os.path.join(target, "runner.json"))
        report.refresh_results_page(os.path.normpath(os.path.join(docs, os.pardir)))
    if failed:
        raise SystemExit(1)
    return table


if __name__ == "__main__":
    main()
