"""Markdown tables from the JSON files of benchmarks/rnn_speed.py.

    python benchmarks/report.py docs/benchmarks/cpu_*.json > table.md

Timing files and memory-only files of the same backend are merged.
"""

import json
import sys
from collections import defaultdict

from rnn_speed import RATIOS as PAIRS  # the same pairs as the measurements


# Host RSS growth does not follow XLA's CPU buffer allocation: repeated
# measurements of the same JAX variant differed by 5x (17 vs 87 MiB), so the table
# leaves JAX's memory column out (the JSON keeps the raw numbers).
UNMEASURED_MEMORY = {"jax"}


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


def table(merged):
    lines = [
        "| backend | B, T, D, H | MI layer | reference | train time | inference time | train-step peak memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, shapes in merged.items():
        for shape, entry in shapes.items():
            times, memory = entry["times"], entry["memory"]
            for mi, reference in PAIRS:
                cells = []
                for kind in ("train", "infer"):
                    if mi in times and reference in times:
                        a = times[mi][kind]["median_ms"]
                        b = times[reference][kind]["median_ms"]
                        cells.append(f"{a / b:.2f}x ({a:.0f} / {b:.0f} ms)")
                    else:
                        cells.append("")
                if backend in UNMEASURED_MEMORY:
                    cells.append("not measurable this way" if mi in memory else "")
                elif mi in memory and reference in memory:
                    a, b = memory[mi]["bytes"], memory[reference]["bytes"]
                    cells.append(f"{a / max(b, 1):.2f}x ({a / 2**20:.0f} / {b / 2**20:.0f} MiB)")
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


def main(paths):
    merged, machines = load(paths)
    print(table(merged))
    print()
    for backend, machine in machines.items():
        print(
            f"- {backend}: Keras {machine['keras']}, Python {machine['python']}, "
            f"{machine.get('cpu', machine['processor'])}, {machine['cpu_count']} cores"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
