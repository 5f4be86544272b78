"""Small-scale reproductions of the papers' experiments, on keras_mi.

Each experiment is a module with `main(argv)`, run from the repository root:

    .venv/bin/python -m examples.paper.NAME [options]
    .venv/bin/python -m examples.paper.run_all      # every one, then the table

`examples.paper.registry` lists them: the runner, the report and the tests
read that one list.
"""
