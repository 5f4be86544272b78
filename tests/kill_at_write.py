"""Runs `keras-mi` and kills it (SIGKILL, as a crash or `kill -9` would) at
the K-th time a run file is about to take its final name, after cutting the
temporary file to half its size (a write caught half-way).

    python tests/kill_at_write.py K train --run-dir ... (the command's arguments)
"""

import os
import signal
import sys

from keras_mi import cli, run_files

_calls = 0
_commit = run_files._commit


def _commit_or_die(temporary, path):
    global _calls
    _calls += 1
    if _calls == KILL_AT:
        with open(temporary, "r+b") as handle:
            handle.truncate(os.path.getsize(temporary) // 2)
        print(f"killed while writing {path}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    _commit(temporary, path)


if __name__ == "__main__":
    KILL_AT = int(sys.argv[1])
    run_files._commit = _commit_or_die
    sys.exit(cli.main(sys.argv[2:]))
