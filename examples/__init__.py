"""Examples of keras_mi, and the paper experiments (`examples.paper`), run
from the repository root: `python examples/quickstart.py`, `python -m
examples.paper.run_all`."""
