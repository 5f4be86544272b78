"""The files of a training run, written so that a kill at any moment leaves
a run that `--resume` continues.

Every file is written whole under a temporary name in its own folder, then
renamed over its final name (a rename within a folder is atomic on POSIX
file systems and on Windows' NTFS): a reader sees the old file or the new
one, never part of one. The backup of an interrupted epoch keeps two weight
files and a small metadata file naming the one that is complete; the
metadata is replaced last, so the last good backup stays until the new one
is whole. TensorBoard's event files are appended to and are not covered:
TensorBoard skips a record cut short at the end of a file.
"""

import contextlib
import csv
import io
import json
import os
import shutil
import zipfile

import keras

PARTIAL_PREFIX = ".partial-"
METADATA_FILE = "training_metadata.json"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SLOTS = ("weights_a.weights.h5", "weights_b.weights.h5")


class DamagedRunFile(ValueError):
    """A file of a run that cannot be read as what it should be."""


def _commit(temporary, path):
    """The one place a finished temporary file takes its final name."""
    os.replace(temporary, path)


def _sync(path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` with the same name ending (so
    that `.keras` and `.weights.h5` writers accept it); once the block
    ends without an error, the file it wrote becomes `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f"{PARTIAL_PREFIX}{os.getpid()}-{name}")
    try:
        yield temporary
        _sync(temporary)
        _commit(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path, text):
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json(path, value, **options):
    write_text(path, json.dumps(value, **options))


def save_model(model, path):
    """`model.save(path)`, atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)


def remove_partial_files(*folders):
    """Removes what a killed writer left under a temporary name."""
    for folder in folders:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(PARTIAL_PREFIX):
                    os.remove(os.path.join(folder, name))


def read_json(path, what):
    """The JSON object in `path`; a `DamagedRunFile` naming the file (and
    `what` it should hold) when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
        if not isinstance(value, dict):
            raise ValueError(f"a JSON {type(value).__name__}, not an object")
    except (OSError, ValueError) as error:
        raise DamagedRunFile(f"{path} is damaged: it should hold {what} "
                             f"({type(error).__name__}: {error})") from None
    return value


def backup_epoch(backup_dir):
    """The epochs an interrupted run completed, from its backup (0 when the
    backup holds no complete epoch)."""
    state = _backup_state(backup_dir)
    return 0 if state is None else state[0]


def _backup_state(backup_dir):
    """`(epoch, weights path)` of the backup's last complete epoch, checked
    (a `DamagedRunFile` naming what is wrong), or None without one."""
    path = os.path.join(backup_dir, METADATA_FILE)
    if not os.path.exists(path):
        return None
    metadata = read_json(path, "the backup's epoch and weights file")
    epoch = metadata.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise DamagedRunFile(f"{path} is damaged: its 'epoch' is {epoch!r}, "
                             "not a count of epochs")
    name = metadata.get("weights")
    if name not in _SLOTS:
        raise DamagedRunFile(f"{path} is damaged: its 'weights' is {name!r}, not one of "
                             f"{', '.join(_SLOTS)}")
    weights = os.path.join(backup_dir, name)
    with contextlib.suppress(OSError), open(weights, "rb") as handle:
        if handle.read(8) == _HDF5_SIGNATURE:
            return epoch, weights
    raise DamagedRunFile(f"{weights} is damaged or missing: it should hold the weights "
                         f"of epoch {epoch} (an HDF5 file)")


class RunBackup(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backup survives a kill at
    any moment: each epoch's weights (with the optimizer's state) go to the
    weight file the metadata does not name, and then the metadata is
    replaced by one naming it. The backup is kept after training (the
    caller removes it once the run's final files are written)."""

    def __init__(self, backup_dir):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)
        self._metadata_path = os.path.join(backup_dir, METADATA_FILE)

    def on_train_begin(self, logs=None):
        remove_partial_files(self.backup_dir)
        self._load_model()

    def _load_model(self):
        state = _backup_state(self.backup_dir)
        if state is None:
            return  # nothing backed up yet: a new run
        epoch, weights = state
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(weights)
        except Exception as error:  # h5py's OSError, Keras' ValueError
            raise DamagedRunFile(f"{weights} is damaged: it should hold the weights of "
                                 f"epoch {epoch} ({type(error).__name__}: {error})") from None
        self.model._initial_epoch = epoch
        self._current_epoch = epoch

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        current = None
        if os.path.exists(self._metadata_path):
            current = read_json(self._metadata_path, "the backup's metadata").get("weights")
        name = _SLOTS[1] if current == _SLOTS[0] else _SLOTS[0]
        with atomic_path(os.path.join(self.backup_dir, name)) as temporary:
            self.model.save_weights(temporary)
        write_json(self._metadata_path, {"epoch": self._current_epoch, "batch": 0,
                                         "weights": name})


def remove_backup(backup_dir):
    """Removes a finished run's backup, its metadata first: a kill during
    the removal leaves no metadata naming a removed weight file."""
    path = os.path.join(backup_dir, METADATA_FILE)
    if os.path.exists(path):
        os.remove(path)
    shutil.rmtree(backup_dir, ignore_errors=True)


class HistoryLog(keras.callbacks.Callback):
    """The per-epoch logs as CSV (`epoch` first, then the metrics by name,
    like `keras.callbacks.CSVLogger`), rewritten whole after each epoch. A
    resumed run keeps the rows of its `completed_epochs` and drops any
    later row an interrupted epoch left."""

    def __init__(self, path, completed_epochs=0):
        super().__init__()
        self.path = path
        self.rows = []
        if completed_epochs and os.path.exists(path):
            with open(path, newline="", encoding="utf-8") as handle:
                self.rows = [row for row in csv.DictReader(handle)
                             if row.get("epoch", "").isdigit()
                             and int(row["epoch"]) < completed_epochs]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": str(epoch)}
        row.update({key: repr(float(value)) for key, value in sorted((logs or {}).items())})
        self.rows.append(row)
        fields = ["epoch"] + sorted({k for r in self.rows for k in r} - {"epoch"})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, text.getvalue())


class EpochCheckpoint(keras.callbacks.Callback):
    """The whole model after each epoch, as `pattern.format(epoch=N)` (N
    from 1), written atomically."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern

    def on_epoch_end(self, epoch, logs=None):
        save_model(self.model, self.pattern.format(epoch=epoch + 1))


def damaged_checkpoints(folder):
    """The `.keras` files in `folder` that are not whole (not a zip
    archive), as left by a writer that was not atomic."""
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith(".keras") and not name.startswith(PARTIAL_PREFIX)
                  and not zipfile.is_zipfile(os.path.join(folder, name)))
