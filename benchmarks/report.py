"""Markdown tables from the JSON files of benchmarks/rnn_speed.py.

Timing files and memory-only files of the same backend are merged. Ratios
are MI layer / reference: below 1 the MI layer is faster or smaller.
"""

import argparse
import importlib.util
import json
import os
from collections import defaultdict


def _sibling(name):
    """A script of this folder, loaded by its path (the folder is not a
    package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAIRS = _sibling("rnn_speed").RATIOS  # the pairs measured

MEMORY_KINDS = {
    "host_peak_rss_growth_bytes": "host RSS",
    "device_peak_bytes": "device peak",
    "xla_temp_bytes": "XLA temp",
}


def load(paths):
    merged = defaultdict(lambda: defaultdict(lambda: {"times": {}, "memory": {}}))
    machines = {}
    for path in paths:
        with open(path) as handle:
            report = json.load(handle)
        backend = report["machine"]["backend"]
        machines[backend] = report["machine"]
        for result in report["results"]:
            entry = merged[backend][tuple(result["shape"])]
            entry["times"].update(result.get("times", {}))
            entry["memory"].update(result.get("memory", {}))
    return merged, machines


def _ratio(a, b, unit):
    return f"{a / max(b, 1e-12):.2f}x ({a:.0f} / {b:.0f} {unit})"


def table(merged):
    lines = [
        "| backend | B, T, D, H | MI layer | reference | train step | inference | train-step memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, shapes in merged.items():
        for shape, entry in shapes.items():
            times, memory = entry["times"], entry["memory"]
            for mi, reference in PAIRS:
                cells = []
                for kind in ("train", "infer"):
                    if mi in times and reference in times:
                        cells.append(
                            _ratio(
                                times[mi][kind]["median_ms"],
                                times[reference][kind]["median_ms"],
                                "ms",
                            )
                        )
                    else:
                        cells.append("")
                if mi in memory and reference in memory:
                    a, b = memory[mi], memory[reference]
                    label = MEMORY_KINDS.get(a["kind"], a["kind"])
                    if a["kind"] == b["kind"]:
                        cells.append(
                            _ratio(a["bytes"] / 2**20, b["bytes"] / 2**20, f"MiB {label}")
                        )
                    else:
                        cells.append("")
                else:
                    cells.append("")
                if not any(cells):
                    continue
                lines.append(
                    f"| {backend} | {', '.join(map(str, shape))} | {mi} | {reference} | "
                    + " | ".join(cells)
                    + " |"
                )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "files", nargs="+", help="JSON files written by benchmarks/rnn_speed.py"
    )
    args = parser.parse_args(argv)
    merged, machines = load(args.files)
    print(table(merged))
    print()
    for backend, machine in machines.items():
        print(
            f"- {backend}: Keras {machine['keras']}, Python {machine['python']}, "
            f"{machine.get('cpu', machine['processor'])}, {machine['cpu_count']} cores"
        )


if __name__ == "__main__":
    main()
