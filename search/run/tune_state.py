"""One consistent, atomically written copy of Ray Tune's saved state, put back on resume.

Ray Tune (2.60) saves its state into a driver staging directory (the trial list in
`experiment_state-*.json`, the search generator's trial counter and concurrency slots in
`search_gen_state-*.json`, the searcher in `searcher-state-*.pkl`) and copies that directory to
the storage path in a background thread, file by file, writing each copy in place (truncate,
then write). A driver killed during that copy leaves a torn state on the storage path: an empty
or half-written file (measured: about 1 poll in 100 of a running search reads an empty
`experiment_state` or a truncated `search_gen_state`), or files of two different snapshots. On
such a state `Tuner.restore` fails, logs "Failed to restore the run state" and, since a
search does not fail fast, starts the experiment over with an unrestored search algorithm: the
resumed search ran 1 new trial and the trial recorder dropped every earlier trial's record
("1 record of 6"), or trials were counted that Tune never runs.

`SnapshotSearchGenerator` writes, every time Tune saves its state, the files Tune has just
written into its staging directory into one zip file in the search directory (`TUNE_STATE_FILE`,
written under a temporary name and renamed). It is taken after the trial list, the searcher and
the generator counter were all written, so its files belong to one snapshot, and it is at least
as new as what Tune's copy has reached. `prepare_tune_state` puts those files back into Tune's
experiment directory before `Tuner.restore` and refuses an unreadable state instead of letting
Tune start the search over.
"""

from __future__ import annotations

import fnmatch
import io
import json
import zipfile
from pathlib import Path

import pyarrow.fs as pafs
from ray import tune
from ray.tune.search import Searcher, SearchGenerator

from prixfixe_blocks.atomic import atomic_write
from prixfixe_blocks.errors import ConfigError
from search.experiment import TUNE_STATE_FILE, ExperimentDir

EXPERIMENT_STATE = "experiment_state-*.json"  # Tune's trial list (TuneController.CKPT_FILE_TMPL)
# What Tune restores an experiment from (it downloads only the .json and .pkl files).
STATE_PATTERNS = (EXPERIMENT_STATE, "search_gen_state-*.json", "searcher-state-*.pkl",
                  "optuna-journal-copy.json")


class SnapshotSearchGenerator(SearchGenerator):
    """Ray's SearchGenerator that also keeps the consistent copy of Tune's state (module
    docstring) in the search directory `exp`."""

    def __init__(self, searcher: Searcher, exp: ExperimentDir) -> None:
        super().__init__(searcher)
        self.exp = exp

    def save_to_dir(self, dirpath: str, session_str: str) -> None:
        super().save_to_dir(dirpath, session_str)
        save_tune_state(Path(dirpath), self.exp)


def state_files(directory: Path) -> list[Path]:
    """Tune's state files in its (staging) experiment directory, by name."""
    return sorted(p for p in directory.iterdir() if p.is_file()
                  and any(fnmatch.fnmatch(p.name, pattern) for pattern in STATE_PATTERNS))


def save_tune_state(directory: Path, exp: ExperimentDir) -> None:
    """Zip Tune's state files of `directory` into the search directory, atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in state_files(directory):
            archive.writestr(path.name, path.read_bytes())
    atomic_write(exp.path(TUNE_STATE_FILE), lambda tmp: tmp.write_bytes(buffer.getvalue()))
    exp.push(TUNE_STATE_FILE)


def read_tune_state(exp: ExperimentDir) -> dict[str, bytes]:
    """The files of the saved copy of Tune's state (empty when the search has none: a search
    made before the copy existed, or one that has not saved its state yet)."""
    path = exp.path(TUNE_STATE_FILE)
    if not path.is_file():
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError) as err:
        raise ConfigError(f"{path}: unreadable copy of Ray Tune's state ({err})") from err


def tune_trials(files: dict[str, bytes]) -> dict[str, str]:
    """Tune trial id -> the status Tune saved, from the newest `experiment_state` among
    `files` (empty if there is none)."""
    names = sorted(n for n in files if fnmatch.fnmatch(n, EXPERIMENT_STATE))
    if not names:
        return {}
    state = json.loads(files[names[-1]])
    trials = (json.loads(t[0]) if isinstance(t[0], str) else t[0] for t in state["trial_data"])
    return {t["trial_id"]: t["status"] for t in trials}


def install_tune_state(exp: ExperimentDir) -> int:
    """Put the saved copy of Tune's state into Tune's experiment directory (replacing what
    Tune's own copy left there, torn or older); returns how many files were written."""
    files = read_tune_state(exp)
    if not files:
        return 0
    fs, base = pafs.FileSystem.from_uri(exp.tune_path)
    for name, data in files.items():
        with fs.open_output_stream(f"{base}/{name}") as out:
            out.write(data)
    return len(files)


def prepare_tune_state(exp: ExperimentDir) -> None:
    """Before `Tuner.restore`: the saved copy put back, then ConfigError (naming the search or
    the file) when there is no state to restore or Tune's trial list cannot be read (Tune
    would log the error and start the whole search over)."""
    install_tune_state(exp)
    if not tune.Tuner.can_restore(exp.tune_path):
        raise ConfigError(f"search '{exp.name}' at {exp.where} has no Ray Tune state to "
                          "restore")
    fs, base = pafs.FileSystem.from_uri(exp.tune_path)
    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    names = sorted(i.base_name for i in infos if fnmatch.fnmatch(i.base_name, EXPERIMENT_STATE))
    if not names:
        return
    with fs.open_input_stream(f"{base}/{names[-1]}") as stream:
        data = stream.read()
    try:
        tune_trials({names[-1]: data})
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise ConfigError(f"{exp.tune_path}/{names[-1]}: Ray Tune's saved state is unreadable "
                          f"({err}); the search cannot be resumed from it") from err

