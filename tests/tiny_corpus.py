"""A tiny text corpus for the command's tests."""


def write_tiny_corpus(folder):
    """A folder of 60 short text files: enough for every split of the
    command's hash split to get some. Returns its path."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for k in range(60):
        (corpus / f"f{k:02d}.txt").write_text(f"file {k}: the quick brown fox. " * 4)
    return str(corpus)
