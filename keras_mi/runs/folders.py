"""A run's folder: what an earlier run left there, and the rules that keep
runs apart (a folder holding a run is resumed or replaced, never written
over silently). The files themselves are written by `keras_mi.run_files`."""

import logging
import os
import shutil

from keras_mi import run_files
from keras_mi.validation import ArgumentError

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "vocabulary.json"
RUN_FILE = "run.json"  # the options a run was started with
HISTORY_FILE = "history.csv"
BACKUP = "backup"
LOGS = "logs"
CHECKPOINTS = "checkpoints"

log = logging.getLogger("keras_mi.runs")


def checkpoint_folder(run_dir, checkpoint_dir=None):
    return checkpoint_dir or os.path.join(run_dir, CHECKPOINTS)


def earlier_files(run_dir, checkpoint_dir=None):
    """The paths of an earlier run's files: in `run_dir`, and its epoch
    checkpoints (only those) in `checkpoint_dir`."""
    found = [os.path.join(run_dir, name)
             for name in (MODEL_FILE, RUN_FILE, HISTORY_FILE, BACKUP, LOGS)
             if os.path.exists(os.path.join(run_dir, name))]
    checkpoint_dir = checkpoint_folder(run_dir, checkpoint_dir)
    if os.path.isdir(checkpoint_dir):
        found += sorted(os.path.join(checkpoint_dir, name) for name in os.listdir(checkpoint_dir)
                        if name.startswith("epoch_") and name.endswith(".keras"))
    return found


def check(run_dir, resume, overwrite, checkpoint_dir=None):
    """Refuses to mix runs: a folder holding a run is continued (`resume`,
    if it was interrupted) or replaced (`overwrite`). Called before anything
    is trained."""
    if resume and overwrite:
        raise ArgumentError("resume", "give `resume` or `overwrite`, not both")
    if resume:
        # The model is written once every epoch is done: its run is finished
        # (even if a kill left part of the backup behind).
        if os.path.exists(os.path.join(run_dir, MODEL_FILE)):
            raise ArgumentError(
                "resume",
                f"the run in {run_dir} is finished ({MODEL_FILE} is there): nothing to "
                "resume; give `overwrite` to train it again, or another `run_dir`")
        if os.path.isdir(os.path.join(run_dir, BACKUP)):
            return
    found = earlier_files(run_dir, checkpoint_dir)
    if found and not overwrite and not resume:
        raise ArgumentError(
            "run_dir",
            f"{run_dir} holds a run "
            f"({', '.join(os.path.relpath(path, run_dir) for path in found)}); give "
            "`resume` to continue an interrupted one, `overwrite` to replace it, or "
            "another `run_dir`")


def prepare(run_dir, resume, checkpoint_dir=None):
    """`resume` keeps the backup and the history; a new run starts from an
    empty folder (after `check`, whatever is there was asked to go)."""
    backup = os.path.join(run_dir, BACKUP)
    checkpoint_dir = checkpoint_folder(run_dir, checkpoint_dir)
    run_files.remove_partial_files(run_dir, backup, checkpoint_dir)
    if resume and os.path.isdir(backup):
        log.info(f"resuming the run in {run_dir}")
        for path in run_files.damaged_checkpoints(checkpoint_dir):
            log.warning(f"the checkpoint {path} is damaged (not a whole .keras file); "
                        "it is left as it is: its epoch's weights cannot be recovered")
        return
    if resume:
        log.info(f"no backup in {backup}: starting a new run")
    for path in earlier_files(run_dir, checkpoint_dir):
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def make(argument, path):
    """Creates `path` if needed; an `ArgumentError` naming `argument` when
    it cannot be created or written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ArgumentError(argument, f"cannot create {path} "
                            f"({error.strerror or error})") from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise ArgumentError(argument, f"{path} is not writable")


def record_or_check_options(options, run_dir, resume):
    """A new run writes its options to RUN_DIR/run.json; a resumed one must
    be given the same (else it would not continue the same run)."""
    path = os.path.join(run_dir, RUN_FILE)
    if not (resume and os.path.exists(path)):
        run_files.write_json(path, options, indent=1)
        return
    try:
        recorded = run_files.read_json(path, "the options the run was started with")
    except run_files.DamagedRunFile as error:
        raise ArgumentError("resume", str(error)) from None
    differ = [key for key in sorted(set(options) | set(recorded))
              if options.get(key) != recorded.get(key)]
    if differ:
        def option(key, value):
            return f"`{key}` {value}"
        raise ArgumentError(
            "resume",
            f"the run in {run_dir} was started with "
            f"{', '.join(option(k, recorded.get(k)) for k in differ)}, not "
            f"{', '.join(option(k, options.get(k)) for k in differ)}: resume it with the "
            f"options it was started with (they are in {path})")


def completed_epochs(run_dir):
    """The epochs an interrupted run completed, from its backup."""
    backup = os.path.join(run_dir, BACKUP)
    try:
        return run_files.backup_epoch(backup)
    except run_files.DamagedRunFile as error:
        raise ArgumentError("resume", f"{error}; remove {backup} to start the run over") from None


def model_path(path):
    """A `.keras` file, or the run directory (or checkpoint folder's run)
    that holds one as `model.keras`."""
    if os.path.isdir(path):
        candidate = os.path.join(path, MODEL_FILE)
        if os.path.isfile(candidate):
            return candidate
        raise ArgumentError(
            "model", f"the directory {path!r} holds no {MODEL_FILE}; give a run "
            "directory of `keras-mi train` or a .keras file.")
    if not os.path.isfile(path):
        raise ArgumentError("model", f"{path!r} is neither a .keras file nor a run directory.")
    return path


def tensorboard_command(log_dir):
    """A command line that starts TensorBoard on `log_dir`: the
    `tensorboard` of the running Python's environment, by a path that works
    from the current directory."""
    import sys

    script = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if not os.path.isfile(script):
        return f"{sys.executable} -m tensorboard.main --logdir {log_dir}"
    relative = os.path.relpath(script)
    program = script if relative.startswith(os.pardir) else relative
    return f"{program} --logdir {log_dir}"
