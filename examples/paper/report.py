"""Reads the experiments' JSON files: one summary table, and the generated
parts of docs/results.md.

    .venv/bin/python -m examples.paper.report [RESULTS_DIR] [--docs docs/results.md]

docs/results.md keeps its prose; what lies between the markers
`<!-- generated: NAME -->` and `<!-- end: NAME -->` is rewritten from
`RESULTS_DIR/NAME.json` (the table, the figures, the settings and the time).
"""

import argparse
import glob
import json
import os
import re

from examples.paper import common
from examples.paper.registry import NAMES as EXPERIMENTS

def runnable(command):
    """A recorded command as it runs now: records written before the
    experiments were a package name the script's path
    (`.venv/bin/python examples/paper/NAME.py ...`), the same program as
    `.venv/bin/python -m examples.paper.NAME ...`."""
    return re.sub(r"python examples/paper/(\w+)\.py", r"python -m examples.paper.\1", command)


# Values below this are logged norms of exactly zero (float32 underflow).
UNDERFLOW = -700.0


def load_records(directory):
    """`{experiment: record}` for every `NAME.json` in `directory` (searched
    one level down too, where the runner puts each experiment)."""
    records = {}
    paths = glob.glob(os.path.join(directory, "*.json")) + glob.glob(
        os.path.join(directory, "*", "*.json"))
    for path in sorted(paths):
        with open(path) as handle:
            record = json.load(handle)
        if isinstance(record, dict) and "experiment" in record and "table" in record:
            record["path"] = path
            records[record["experiment"]] = record
    return records


def _norm(value):
    return "-inf (norm 0: underflow)" if value < UNDERFLOW else f"{value:.1f}"


def verdict_line(record):
    """`claim: verdict` for each claim the record judged, or a note that it
    has no criterion (an early-training run)."""
    if "verdict" not in record:
        return "no verdict (early training: no criterion was fixed for this run)"
    return "; ".join(f"{claim}: **{outcome['verdict']}**"
                     for claim, outcome in record["verdict"].items())


def converged_count(record):
    flags = [run["converged"] for run in record["runs"] if "converged" in run]
    return f"{sum(flags)}/{len(flags)}" if flags else "not tracked"


def headline(record):
    """One line: what the experiment found, with its error bars."""
    name, results = record["experiment"], record["results"]
    if name in ("table1_init_scale", "table1_paper_lr"):
        return "std of test BPC across r: " + ", ".join(
            f"{kind} {common.pm(result['std_across_scales'], 4)}"
            for kind, result in results.items())
    if name == "fig1a_gradient_norms":
        return "log norm of dC/dh_0, start -> end: " + ", ".join(
            f"{kind} {_norm(r['log_gradient_norm']['0']['first']['mean'])} -> "
            f"{_norm(r['log_gradient_norm']['0']['last']['mean'])}"
            for kind, r in results.items())
    if name == "fig1bcd_tanh_rnns":
        return "test BPC: " + ", ".join(
            f"{kind} {common.pm(r['test_bpc'])}" for kind, r in results.items()
        ) + "; saturated: " + ", ".join(
            f"{kind} {100 * r['final_saturation']['mean']:.1f}%" for kind, r in results.items())
    if name in ("char_lm", "lstm_family", "multiplicative_embeddings"):
        ranked = sorted(results.items(), key=lambda item: item[1]["test_bpc"]["mean"])
        return "test BPC, best first: " + ", ".join(
            f"{kind} {common.pm(r['test_bpc'])}" for kind, r in ranked)
    if name == "conversion":
        return (f"MI-LSTM minus LSTM after the continuation: "
                f"{common.pm(results['difference'])} BPC")
    if name in ("sequential_digits_bn", "bn_statistics"):
        return "test accuracy: " + ", ".join(
            f"{kind} {common.pm(r['test_accuracy'])}" for kind, r in results.items())
    if name == "fig3_multitask":
        return "log10 MSE after training: " + "; ".join(
            f"{kind} " + ", ".join(f"T={t} {common.pm(v)}" for t, v in per_t.items())
            for kind, per_t in results.items())
    if name == "fig2_learnability":
        parts = []
        for key, models in results.items():
            needed = []
            for kind, result in models.items():
                stats = result["parameters_needed_summary"]
                needed.append(f"{kind} " + ("not reached" if stats is None
                                            else f"{stats['mean']:.0f}"))
            parts.append(f"{key}: " + " / ".join(needed))
        return "parameters to MSE 0.1: " + "; ".join(parts)
    return ""


def summary_table(records):
    rows = [[name, len(record["runs"]), converged_count(record),
             f"{record['seconds'] / 60:.1f}"
             + (" (last process of several)" if record.get("resumed_runs") else ""),
             record["environment"]["backend"],
             headline(record), verdict_line(record)]
            for name, record in _ordered(records)]
    return {"columns": ["experiment", "runs", "converged", "minutes", "backend", "finding",
                        "verdict"], "rows": rows}


def _ordered(records):
    known = [(n, records[n]) for n in EXPERIMENTS if n in records]
    return known + sorted((n, r) for n, r in records.items() if n not in EXPERIMENTS)


def claims_section(record):
    """The criteria fixed before the run, and the verdicts computed from it."""
    if "verdict" not in record:
        return ["**Verdict**: none. These runs stop early in training and no criterion was "
                "fixed before them; the numbers describe early training only.", ""]
    lines = []
    for claim, outcome in record["verdict"].items():
        lines += [f"**Criterion** ({claim}, fixed before the run): {record['criterion'][claim]}",
                  "",
                  f"**Verdict** ({claim}, computed): **{outcome['verdict']}**: "
                  f"{outcome['because']}.", ""]
    return lines


def protocol_lines(record):
    protocol = record.get("protocol")
    if not protocol:
        return []
    initialisation = protocol["rule"]
    if "hidden_range" in protocol:
        initialisation += (f" (here a = {protocol['hidden_range']:.4f}, radius "
                           f"{protocol['spectral_radius_U']:.3f}; the paper's "
                           f"{protocol['paper_spectral_radius_U']:.3f})")
    lines = [f"Protocol: {initialisation}; {protocol['schedule']}; converged: "
             f"{protocol['convergence']}; {protocol['vocabulary_size']} character ids."]
    search = protocol.get("coefficient_search")
    if search:
        scores = ", ".join(f"({k}) {v:.3f}" for k, v in search["validation_bpc"].items())
        lines[0] += (f" Initial (alpha, beta1, beta2) searched on validation BPC after "
                     f"{search['steps']} steps (seed 0): {scores}; chosen "
                     f"({', '.join(f'{c:g}' for c in search['chosen'])}).")
    elif protocol.get("coefficients"):
        lines[0] += (" Initial (alpha, beta1, beta2): ("
                     + ", ".join(f"{c:g}" for c in protocol["coefficients"]) + ").")
    return lines + [""]


def _minutes(record):
    """The record's time; a resumed run's covers its last process only."""
    text = f"{record['seconds'] / 60:.1f} min"
    if record.get("resumed_runs"):
        text += (f" in its last process ({record['resumed_runs']} of its runs were done by "
                 f"earlier processes and continued with --resume)")
    return text


def generated_section(record, figure_prefix):
    settings = record["settings"]
    shown = {k: v for k, v in settings.items() if v is not None and k != "paper_scale"}
    lines = claims_section(record) + [common.format_table(record["table"]), ""]
    lines += [f"![{figure}]({figure_prefix}{figure})" for figure in record["figures"]]
    lines += [
        "",
        f"Run: `{runnable(record['environment']['command'])}` on {record['environment']['backend']} "
        f"(Keras {record['environment']['keras']}, {record['environment']['cpus']} CPUs), "
        + _minutes(record) + f", {len(record['runs'])} training runs"
        + (f" ({converged_count(record)} converged). " if converged_count(record) != "not tracked"
           else " (convergence not tracked). ") +
        "Settings: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + ".",
        "",
    ] + protocol_lines(record)
    return "\n".join(lines).rstrip("\n")


def summary_section(records, runner=None):
    """The summary table, and the runner's times if its record is given."""
    lines = [common.format_table(summary_table(records))]
    if runner is not None:
        lines += ["", f"Whole runner: {runner['total_seconds'] / 60:.0f} min "
                  f"({', '.join(f'{k} {v / 60:.1f}' for k, v in runner['seconds'].items())} min)."]
    return "\n".join(lines)


def write_docs(records, path, figure_prefix="results/", runner=None, section=None,
               summary="summary"):
    """Rewrites the generated sections of `path` (one per experiment, and
    the section named `summary`), or, with `section`, that one section with
    all of it; returns the names done."""
    with open(path) as handle:
        text = handle.read()
    sections = {name: generated_section(record, figure_prefix)
                for name, record in records.items()}
    sections[summary] = summary_section(records, runner)
    if section is not None:
        sections = {section: "\n\n".join(
            [sections["summary"]]
            + [f"#### {name}\n\n{body}" for name, body in sections.items()
               if name != summary])}
    done = []
    for name, section in sections.items():
        pattern = re.compile(
            rf"(<!-- generated: {re.escape(name)} -->\n).*?(\n?<!-- end: {re.escape(name)} -->)",
            re.S)
        if pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + section + "\n" + m.group(2).lstrip("\n"),
                               text)
            done.append(name)
    with open(path, "w") as handle:
        handle.write(text)
    return done


# docs/results.md is generated from these folders of committed JSON files:
# (folder, the page's summary section). The converged runs with their
# verdicts, then the early-training runs that have none.
RESULTS_PAGE = os.path.join("docs", "results.md")
PAGE_SOURCES = ((os.path.join("docs", "results"), "summary"),
                (os.path.join("docs", "results_early"), "summary_early"))


def refresh_results_page(root, page=None):
    """Rewrites every generated part of `page` (default: the checkout's
    docs/results.md under `root`) from the committed JSON files; returns the
    sections done."""
    page = page or os.path.join(root, RESULTS_PAGE)
    done = []
    for folder, summary in PAGE_SOURCES:
        directory = os.path.join(root, folder)
        prefix = os.path.relpath(directory, os.path.join(root, os.path.dirname(RESULTS_PAGE)))
        done += write_docs(load_records(directory), page, prefix.rstrip("/") + "/",
                           load_runner(directory), summary=summary)
    return done


def load_runner(directory):
    path = os.path.join(directory, "runner.json")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="?", default=os.path.join("docs", "results"),
                        help="the folder of the experiments' JSON files")
    parser.add_argument("--docs", default=None,
                        help="a Markdown file whose generated sections to rewrite")
    parser.add_argument("--section", default=None,
                        help="write everything into this one generated section of --docs")
    parser.add_argument("--page", action="store_true",
                        help=f"rewrite {RESULTS_PAGE} from {' and '.join(f for f, _ in PAGE_SOURCES)}")
    args = parser.parse_args(argv)
    if args.page:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
        done = refresh_results_page(os.path.normpath(root))
        print(f"{RESULTS_PAGE}: rewrote {', '.join(done) or 'nothing'}")
        return done
    records = load_records(args.results)
    if not records:
        parser.error(f"argument results: no experiment JSON files in {args.results!r}")
    table = summary_table(records)
    print(common.format_table(table))
    if args.docs:
        prefix = os.path.relpath(args.results, os.path.dirname(os.path.abspath(args.docs)))
        done = write_docs(records, args.docs, prefix.rstrip("/") + "/",
                          load_runner(args.results), args.section)
        print(f"{args.docs}: rewrote {', '.join(done) or 'nothing'}")
    return table


if __name__ == "__main__":
    main()
