"""Builds a natural-language corpus anyone can rebuild offline: the King James
Bible (public domain, about 4.3 MB of English), from Debian's `bible-kjv`
and `bible-kjv-text` packages.

    .venv/bin/python -m examples.paper.build_kjv_corpus [--out data/kjv]
    keras-mi train --dataset data/kjv
    .venv/bin/python -m examples.paper.run_all --dataset data/kjv

Needs a Debian-family system (`apt-get download` fetches the two packages
from the distribution's mirror without installing them, no root needed;
`dpkg-deb` unpacks them), or `--debs DIR` holding the two `.deb` files
fetched elsewhere. The packages' `bible` program prints the text; it is
written as one file per chapter, `NN_Book/CCC.txt`, one verse per line
without its number, so that keras_mi's hash split of files by path gives
train / validation / test sets of whole chapters (about 90 / 5 / 5 %).
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

PACKAGES = ("bible-kjv", "bible-kjv-text")
# The whole book, as a verse range of the `bible` program.
EVERYTHING = "Gen1:1-Rev22:21"
CHAPTER = re.compile(r"^(?P<book>(?:[1-3] )?[A-Z][A-Za-z ]*?) (?P<chapter>\d+)$")
VERSE = re.compile(r"^ +(?P<number>\d+) (?P<text>.*)$")


def parse_chapters(text):
    """`[(book, chapter, [verse, ...]), ...]` from the `bible` program's
    output: a line `Book N` opens a chapter, `  N text` opens a verse, and
    other non-empty lines continue the verse before them."""
    chapters = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            continue
        heading = CHAPTER.match(line)
        verse = VERSE.match(line)
        if heading and not verse:
            chapters.append((heading["book"], int(heading["chapter"]), []))
        elif verse and chapters:
            chapters[-1][2].append(verse["text"].strip())
        elif chapters and chapters[-1][2]:
            chapters[-1][2][-1] += " " + line.strip()
        else:
            raise ValueError(f"unexpected line before any verse: {line!r}")
    return chapters


def write_corpus(chapters, out):
    """One file per chapter under `out`; returns the number of characters."""
    books = {}
    characters = 0
    for book, chapter, verses in chapters:
        index = books.setdefault(book, len(books) + 1)
        folder = os.path.join(out, f"{index:02d}_{book.replace(' ', '_')}")
        os.makedirs(folder, exist_ok=True)
        text = "\n".join(verses) + "\n"
        with open(os.path.join(folder, f"{chapter:03d}.txt"), "w", encoding="ascii") as handle:
            handle.write(text)
        characters += len(text)
    return characters


def fetch(debs):
    """Downloads the packages into `debs` with apt-get (no installation)."""
    if shutil.which("apt-get") is None:
        raise SystemExit("apt-get is not available: fetch the packages "
                         f"{', '.join(PACKAGES)} elsewhere and pass --debs DIR")
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)


def bible_text(debs, work):
    """The whole text, printed by the packaged `bible` program."""
    for package in PACKAGES:
        found = glob.glob(os.path.join(debs, f"{package}_*.deb"))
        if not found:
            raise SystemExit(f"no {package}_*.deb in {debs}")
        subprocess.run(["dpkg-deb", "-x", found[0], work], check=True)
    program = os.path.join(work, "usr", "bin", "bible")
    data = os.path.join(work, "usr", "lib")
    result = subprocess.run([program, "-p", data, EVERYTHING], capture_output=True,
                            text=True, check=True, env={**os.environ, "COLUMNS": "200"})
    return result.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join("data", "kjv"), help="the corpus folder")
    parser.add_argument("--debs", default=None,
                        help="a folder with the two .deb files (default: apt-get download)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        debs = args.debs
        if debs is None:
            debs = os.path.join(work, "debs")
            os.makedirs(debs)
            fetch(debs)
        chapters = parse_chapters(bible_text(debs, os.path.join(work, "root")))
    if len(chapters) != 1189:
        print(f"warning: {len(chapters)} chapters read, the King James Bible has 1189",
              file=sys.stderr)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    characters = write_corpus(chapters, args.out)
    print(f"{args.out}: {len(chapters)} chapters, {characters:,} characters")
    return chapters


if __name__ == "__main__":
    main()
