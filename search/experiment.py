"""The experiment directory: Ray Tune's files plus ours, beside each other.

`STORAGE/NAME/tune/` holds Ray Tune's experiment state and trial checkpoints (a directory of
its own: on restore Tune syncs its experiment directory back from a staged copy, which would
overwrite newer files of ours), and `STORAGE/NAME/` holds:
  search.json      the run's options, MLflow parent run, data checksum (what `resume` reads)
  trials.json      one record per trial (status, epochs, metrics, config, MLflow run id),
                   written by the trial recorder: `status`, the leaderboard, the plot and
                   the MLflow bookkeeping read it (a resumed trial continues its own run)
  driver.json      the driver's pid/host/state, so `status` can tell a lost driver
  optuna.journal   the Optuna study (open with `optuna-dashboard optuna.journal`)
  clock.json       seconds the search has run, over all its drivers (for --time-budget)
  tune-state.zip   Ray Tune's last saved state, one consistent copy (`resume` restores it)
  leaderboard.csv, curves.png, best_model/   written at the end
  refit.json       `refit`: its plan (configurations, seeds), members and MLflow runs
  refit/           `refit`: ensemble/ (every refit model and the weighted ensemble chosen
                   on validation rows, a model directory), test.json / test.md
  refit-tune/      Ray Tune's state of the refit (its own directory, as tune/ is)
  report/          `report`: importances, per-choice plot, curves, Pareto front, report.md
Every JSON file is written to a temporary name and renamed, so a killed driver leaves no
half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from prixfixe_blocks.atomic import atomic_write_text
from prixfixe_blocks.data.store.location import join, normalize, store_error
from prixfixe_blocks.data.write.writer import replace_path
from prixfixe_blocks.errors import ConfigError

SEARCH_FILE = "search.json"
TRIALS_FILE = "trials.json"
DRIVER_FILE = "driver.json"
OPTUNA_FILE = "optuna.journal"
LEADERBOARD_FILE = "leaderboard.csv"
PLOT_FILE = "curves.png"
BEST_MODEL_DIR = "best_model"
TUNE_DIR = "tune"
REFIT_DIR = "refit"
REFIT_TUNE_DIR = "refit-tune"
ENSEMBLE_DIR = f"{REFIT_DIR}/ensemble"  # the refit's ensemble model directory (members inside)
REFIT_TEST_TABLE = f"{REFIT_DIR}/test.md"  # the refit's figures (test split, or validation)
REFIT_TEST_JSON = f"{REFIT_DIR}/test.json"
REPORT_DIR = "report"
REFIT_FILE = "refit.json"
CLOCK_FILE = "clock.json"
TUNE_STATE_FILE = "tune-state.zip"  # one consistent copy of Ray Tune's saved state (tune_state.py)
SYNCED_FILES = (SEARCH_FILE, TRIALS_FILE, DRIVER_FILE, OPTUNA_FILE, CLOCK_FILE, REFIT_FILE,
                TUNE_STATE_FILE)
# Keys of a trial record (trials.json) that name the trial elsewhere; its key is the Tune id.
RUN_ID = "mlflow_run_id"  # its MLflow run
NUMBER = "number"  # its Optuna trial number (shown by optuna-dashboard, MLflow, leaderboard)


def open_experiment(storage: str, name: str) -> ExperimentDir:
    """The experiment directory of search `name` under `--storage` (a path or a URI).

    For a URI (`s3://bucket/runs`, `gs://...`, `file:///...`) our files live in a local cache
    (`$PRIXFIXE_CACHE`, default `~/.cache/prixfixe-search`) and are copied to `URI/NAME/` after
    every change; Ray Tune writes `URI/NAME/tune/` itself.
    """
    if not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"invalid search name '{name}' (a plain directory name is needed)")
    if "://" not in storage:
        return ExperimentDir(Path(storage).expanduser().resolve() / name)
    remote = join(normalize(storage), name)  # before a `?query` of pyarrow options
    try:
        pafs.FileSystem.from_uri(remote)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ConfigError(f"--storage {storage}: not a storage URI pyarrow can open ({err})") \
            from err
    except OSError as err:
        raise store_error(err, storage, "open --storage") from None
    cache = Path(os.environ.get("PRIXFIXE_CACHE", "~/.cache/prixfixe-search")).expanduser()
    digest = hashlib.sha1(remote.encode()).hexdigest()[:12]
    return ExperimentDir((cache / digest / name).resolve(), remote)


@dataclass(frozen=True)
class ExperimentDir:
    """Paths and small JSON state of one search's experiment directory (local, or a local
    cache mirrored to `remote`)."""

    root: Path
    remote: str | None = None

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def tune_storage(self) -> str:
        """Ray Tune's `storage_path` (its experiment directory is `<this>/tune`)."""
        return self.remote or str(self.root)

    @property
    def tune_path(self) -> str:
        """Ray Tune's experiment directory (what `Tuner.restore` takes)."""
        return join(self.tune_storage, TUNE_DIR)

    @property
    def where(self) -> str:
        return self.remote or str(self.root)

    def path(self, name: str) -> Path:
        return self.root / name

    def read_json(self, name: str, default: Any = None) -> Any:
        """A JSON file of the directory, or `default` when it does not exist."""
        path = self.root / name
        if not path.is_file():
            return default
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: unreadable ({err})") from err

    def write_json(self, name: str, value: Any) -> None:
        atomic_write_text(self.root / name, json.dumps(value, indent=2, sort_keys=True) + "\n")
        self.push(name)

    def push(self, *names: str) -> None:
        """Copy files or directories of the local directory to the remote one (if any)."""
        if not self.remote:
            return
        fs, base = pafs.FileSystem.from_uri(self.remote)
        for name in names:
            local = self.root / name
            if not local.exists():
                continue
            if local.is_dir():
                fs.create_dir(f"{base}/{name}", recursive=True)
            else:
                fs.create_dir(base, recursive=True)
            pafs.copy_files(str(local), f"{base}/{name}", source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=fs)

    def pull(self) -> None:
        """Copy our files from the remote directory into the local cache (resume, status)."""
        if not self.remote:
            return
        fs, base = pafs.FileSystem.from_uri(self.remote)
        self.root.mkdir(parents=True, exist_ok=True)
        for name in SYNCED_FILES:
            if fs.get_file_info(f"{base}/{name}").type == pafs.FileType.File:
                pafs.copy_files(f"{base}/{name}", str(self.root / name), source_filesystem=fs,
                                destination_filesystem=pafs.LocalFileSystem())

    def trial_records(self) -> dict[str, dict[str, Any]]:
        """trials.json: trial id -> the trial's record (empty before the first trial)."""
        return self.read_json(TRIALS_FILE, {})

    def search(self) -> dict[str, Any]:
        """search.json; ConfigError if this is not a search directory."""
        doc = self.read_json(SEARCH_FILE)
        if doc is None:
            raise ConfigError(f"no search found at {self.where} (missing {SEARCH_FILE})")
        return doc

    def mark_driver(self, state: str) -> None:
        """Record the driver's pid, host and state ("running", "finished", "failed")."""
        self.write_json(DRIVER_FILE, {"pid": os.getpid(), "host": socket.gethostname(),
                                      "state": state, "updated": time.time()})

    def driver_alive(self) -> bool:
        """Whether the recorded driver still runs (same host, pid alive, state running)."""
        doc = self.read_json(DRIVER_FILE, {})
        if doc.get("state") != "running" or doc.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(doc["pid"]), 0)
        except (OSError, KeyError, ValueError):
            return False
        return True


def copy_dir(source: Path, target: Path) -> Path:
    """Copy a directory onto `target` (replacing it) through a temporary sibling, so `target`
    is never half-written."""
    tmp = target.parent / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, tmp)
    replace_path(tmp, target)
    return target


def list_searches(storage: str) -> dict[str, str]:
    """Search name -> its driver's last state ("finished", "running", "failed", "unknown") for
    every search directory under `--storage` (a path or a URI); empty when there is none."""
    if "://" in storage:
        fs, base = pafs.FileSystem.from_uri(storage)
    else:
        fs, base = pafs.LocalFileSystem(), str(Path(storage).expanduser().resolve())
    try:
        entries = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except OSError:
        return {}
    found: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: e.base_name):
        if entry.type != pafs.FileType.Directory:
            continue
        if fs.get_file_info(f"{entry.path}/{SEARCH_FILE}").type != pafs.FileType.File:
            continue
        state = "unknown"
        if fs.get_file_info(f"{entry.path}/{DRIVER_FILE}").type == pafs.FileType.File:
            with fs.open_input_stream(f"{entry.path}/{DRIVER_FILE}") as stream:
                try:
                    state = str(json.loads(stream.read()).get("state", "unknown"))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    pass
        found[entry.base_name] = state
    return found
