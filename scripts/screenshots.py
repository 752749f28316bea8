"""Screenshots of a finished search in the MLflow UI and optuna-dashboard, for docs/SEARCH.md.

    python scripts/screenshots.py [--dir demo] [--name demo] [--out docs/images]

Opens what a new user opens after `prixfixe-search demo`: it serves the search's MLflow store
with `mlflow ui` and its Optuna journal with `optuna-dashboard` on free local ports, and has
headless Chromium (`chromium --headless --screenshot`, found on PATH or given with
`--chromium`) capture the runs table (the printed URL: the saved view), the parent run (its
leaderboard description), a trial the scheduler stopped, the best model, the study's history
and trial list, and the importance plot of its completed companion study. Needs the
`optuna-dashboard` package (`pip install optuna-dashboard`) and a Chromium binary; not part of
the test command. Stops the two servers it started when done.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from search.experiment import OPTUNA_FILE, SEARCH_FILE, TRIALS_FILE
from search.record.mlflow_utils import run_url, runs_url
from search.study.companion import companion_name

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = "1800,1000"  # wide enough for the saved view's columns beside MLflow's side panel
# The runs table sorted by Created: the only order in which MLflow nests trials under the parent.
NESTED = "workflowType=machine_learning&orderByKey=attributes.start_time&orderByAsc=false"
MAX_PNG_BYTES = 300_000  # docs images stay small
RENDER_MS = 20_000  # virtual time for the single-page apps to fetch and draw


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(command: list[str], url: str, timeout: float = 90.0) -> subprocess.Popen:
    """Start a server in its own process group; return once `url` answers."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{command[0]} exited ({proc.returncode}): {' '.join(command)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise SystemExit(f"{' '.join(command)} did not answer at {url} in {timeout:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server this script started (its whole process group: workers included)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def shoot(chromium: str, url: str, path: Path) -> None:
    """One headless Chromium screenshot of `url`."""
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size={WINDOW}",
                    f"--virtual-time-budget={RENDER_MS}", f"--screenshot={path}", url],
                   check=True, capture_output=True, timeout=120)
    if path.stat().st_size > MAX_PNG_BYTES:  # a palette PNG: a fraction of the size
        from PIL import Image

        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path}  <-  {url}  ({path.stat().st_size // 1024} KB)")


def find_search(directory: Path, name: str | None) -> Path:
    """The search directory: `--name`, else the newest search under DIR/runs."""
    runs = directory / "runs"
    found = sorted(runs.glob(f"{name or '*'}/{SEARCH_FILE}"),
                   key=lambda p: json.loads(p.read_text()).get("created", 0))
    if not found:
        raise SystemExit(f"no finished search under {runs} (run `prixfixe-search demo` first)")
    return found[-1].parent


def pages(root: Path, mlflow_base: str, dashboard_base: str) -> dict[str, str]:
    """Screenshot name -> URL, for the search in `root`."""
    import mlflow

    doc = json.loads((root / SEARCH_FILE).read_text())
    records = json.loads((root / TRIALS_FILE).read_text()).values()
    exp = doc["experiment_id"]
    shots = {"mlflow-runs": runs_url(doc["tracking_uri"], exp, base=mlflow_base),
             "mlflow-runs-nested": f"{mlflow_base}/#/experiments/{exp}/runs?{NESTED}",
             "mlflow-parent-run": run_url(mlflow_base, exp, doc["parent_run_id"])}
    stopped = [r for r in records if r.get("status") == "STOPPED" and r.get("mlflow_run_id")]
    if stopped:
        shots["mlflow-stopped-trial"] = run_url(mlflow_base, exp, stopped[0]["mlflow_run_id"])
    mlflow.set_tracking_uri(doc["tracking_uri"])
    models = mlflow.search_logged_models(experiment_ids=[exp], output_format="list")
    if models:
        shots["mlflow-best-model"] = f"{mlflow_base}/#/experiments/{exp}/models/" \
                                     f"{models[0].model_id}"
    with urllib.request.urlopen(f"{dashboard_base}/api/studies", timeout=10) as answer:
        studies: list[dict[str, Any]] = json.load(answer)["study_summaries"]
    ids = {s["study_name"]: s["study_id"] for s in studies}
    base = f"{dashboard_base}/dashboard/studies/{ids[doc['options']['name']]}"
    shots.update({"optuna-history": base, "optuna-trials": f"{base}/trials"})
    companion = ids.get(companion_name(doc["options"]["name"]))
    if companion is not None:  # every ended trial completed: the importance plot
        shots["optuna-importance"] = f"{dashboard_base}/dashboard/studies/{companion}"
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="demo", help="the demo directory (runs/, mlflow.db)")
    parser.add_argument("--name", default=None, help="search name (default: the newest)")
    parser.add_argument("--out", default="docs/images", help="where the PNGs go")
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: on PATH)")
    args = parser.parse_args()
    chromium = args.chromium or next(filter(None, map(shutil.which, CHROMIUMS)), None)
    if not chromium:
        raise SystemExit("no Chromium found (e.g. `apt-get install chromium`, or --chromium)")
    dashboard = shutil.which("optuna-dashboard") or str(Path(sys.executable).parent /
                                                         "optuna-dashboard")
    if not Path(dashboard).exists():
        raise SystemExit("optuna-dashboard is not installed (pip install optuna-dashboard)")
    root = find_search(Path(args.dir).resolve(), args.name)
    doc = json.loads((root / SEARCH_FILE).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mlflow_port, dashboard_port = free_port(), free_port()
    mlflow_base = f"http://127.0.0.1:{mlflow_port}"
    dashboard_base = f"http://127.0.0.1:{dashboard_port}"
    servers = [serve([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                      doc["tracking_uri"], "--host", "127.0.0.1", "--port", str(mlflow_port)],
                     mlflow_base)]
    try:
        servers.append(serve([dashboard, str(root / OPTUNA_FILE), "--host", "127.0.0.1",
                              "--port", str(dashboard_port)], f"{dashboard_base}/api/studies"))
        for name, url in pages(root, mlflow_base, dashboard_base).items():
            shoot(chromium, url, out / f"{name}.png")
    finally:
        for server in servers:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
