"""Reads the experiments' JSON files: one summary table, and the generated
parts of docs/results.md.

    .venv/bin/python examples/paper/report.py [RESULTS_DIR] [--docs docs/results.md]

docs/results.md keeps its prose; what lies between the markers
`<!-- generated: NAME -->` and `<!-- end: NAME -->` is rewritten from
`RESULTS_DIR/NAME.json` (the table, the figures, the settings and the time).
"""

import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

EXPERIMENTS = ("table1_init_scale", "fig1a_gradient_norms", "fig1bcd_tanh_rnns", "char_lm",
               "conversion", "fig2_learnability")
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


def headline(record):
    """One line: what the experiment found, with its error bars."""
    name, results = record["experiment"], record["results"]
    if name == "table1_init_scale":
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
    if name == "char_lm":
        ranked = sorted(results.items(), key=lambda item: item[1]["test_bpc"]["mean"])
        return "test BPC, best first: " + ", ".join(
            f"{kind} {common.pm(r['test_bpc'])}" for kind, r in ranked)
    if name == "conversion":
        return (f"MI-LSTM minus LSTM after the continuation: "
                f"{common.pm(results['difference'])} BPC")
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
    rows = [[name, len(record["runs"]), f"{record['seconds'] / 60:.1f}",
             record["environment"]["backend"], headline(record)]
            for name, record in records.items()]
    return {"columns": ["experiment", "runs", "minutes", "backend", "finding"], "rows": rows}


def generated_section(record, figure_prefix):
    settings = record["settings"]
    shown = {k: v for k, v in settings.items() if v is not None and k != "paper_scale"}
    lines = [common.format_table(record["table"]), ""]
    lines += [f"![{figure}]({figure_prefix}{figure})" for figure in record["figures"]]
    lines += [
        "",
        f"Run: `{record['environment']['command']}` on {record['environment']['backend']} "
        f"(Keras {record['environment']['keras']}, {record['environment']['cpus']} CPUs), "
        f"{record['seconds'] / 60:.1f} min, {len(record['runs'])} training runs. "
        "Settings: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + ".",
    ]
    return "\n".join(lines)


def summary_section(records, runner=None):
    """The summary table, and the runner's times if its record is given."""
    lines = [common.format_table(summary_table(records))]
    if runner is not None:
        lines += ["", f"Whole runner: {runner['total_seconds'] / 60:.0f} min "
                  f"({', '.join(f'{k} {v / 60:.1f}' for k, v in runner['seconds'].items())} min)."]
    return "\n".join(lines)


def write_docs(records, path, figure_prefix="results/", runner=None, section=None):
    """Rewrites the generated sections of `path` (one per experiment, and
    `summary`), or, with `section`, that one section with all of it;
    returns the names done."""
    with open(path) as handle:
        text = handle.read()
    sections = {name: generated_section(record, figure_prefix)
                for name, record in records.items()}
    sections["summary"] = summary_section(records, runner)
    if section is not None:
        sections = {section: "\n\n".join(
            [sections["summary"]]
            + [f"#### {name}\n\n{body}" for name, body in sections.items()
               if name != "summary"])}
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
    args = parser.parse_args(argv)
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
