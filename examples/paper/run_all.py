"""Runs every paper experiment at this machine's scale (or `--paper-scale`),
one after the other, and prints the summary table.

    .venv/bin/python -m examples.paper.run_all [--out runs/paper] [--dataset embedded]
    .venv/bin/python -m examples.paper.run_all --docs   # also refresh docs/results

Each experiment writes `OUT/NAME/NAME.json` and its figures; `runner.json`
records how long each took. `--docs` copies the JSON files and figures into
docs/results and rewrites the generated sections of docs/results.md.
"""

import argparse
import gc
import json
import os
import shutil
import sys
import time
import traceback

from examples.paper import registry, report

HERE = os.path.dirname(os.path.abspath(__file__))

def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=os.path.join("runs", "paper"),
                        help="one folder per experiment goes here")
    parser.add_argument("--dataset", default=None,
                        help="for the text experiments (default: each one's, 'embedded')")
    parser.add_argument("--only", default=",".join(registry.NAMES),
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
        if name not in registry.EXPERIMENTS:
            parser.error(f"argument --only: {name!r} is not one of "
                         f"{', '.join(registry.NAMES)}")
    os.makedirs(args.out, exist_ok=True)
    timings, failed = {}, []
    for name in names:
        import keras

        experiment = registry.EXPERIMENTS[name]
        argv_one = ["--out", os.path.join(args.out, name)]
        argv_one += list(experiment.tiny) if args.tiny else []
        argv_one += ["--paper-scale"] if args.paper_scale else []
        if args.dataset and experiment.reads_text:
            argv_one += ["--dataset", args.dataset]
        elif args.tiny and experiment.converged:
            argv_one += ["--dataset", "embedded"]  # the protocol's English corpus may be absent
        print(f"== {name} {' '.join(argv_one)}", flush=True)
        started = time.perf_counter()
        try:
            registry.module(name).main(argv_one)
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
