"""One line with the totals of several pytest runs, from their output logs.

    python scripts/summarize_tests.py LOG [LOG ...]

Reads the last summary line of each log ("12 passed, 3 skipped in 4.5s")
and prints "all backends: 36 passed, 9 skipped" (or "no results").
"""

import re
import sys

COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|warnings?)")


def summary_line(text):
    """The last pytest summary line of a log, or None."""
    lines = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|errors?)\b", line)]
    return lines[-1] if lines else None


def totals(texts):
    counts = {}
    for text in texts:
        line = summary_line(text) or ""
        for count, word in COUNT.findall(line):
            if word.startswith("warning"):
                continue
            word = "errors" if word.startswith("error") else word
            counts[word] = counts.get(word, 0) + int(count)
    return counts


def main(paths):
    texts = []
    for path in paths:
        with open(path, errors="replace") as handle:
            texts.append(handle.read())
    counts = totals(texts)
    print("all backends: " + (", ".join(f"{n} {w}" for w, n in counts.items()) or "no results"))


if __name__ == "__main__":
    main(sys.argv[1:])
