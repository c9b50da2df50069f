"""A training run killed while it exports: no partial version is ever visible, and the next run publishes."""

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.model_store import list_versions
from tests.conftest import MODEL_NAME, ROOT, quiet_environment, start_server, stop_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TRAINING_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 0.005
WINDOW = [0.2] * 50


def training_command(model_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "training",
        "--model-dir", str(model_dir),
        "--name", MODEL_NAME,
        "--epochs", "1",
        "--max-mae", "1.0",
    ]


def kill_during_export(model_dir: Path) -> tuple[int, list[str]]:
    """Start training, SIGKILL it as soon as its staging directory contains a file, and return its exit code and that directory's files."""
    model_root = model_dir / MODEL_NAME
    process = subprocess.Popen(training_command(model_dir), cwd=ROOT, env=quiet_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TRAINING_TIMEOUT_SECONDS
    try:
        while time.monotonic() < deadline and process.poll() is None:
            staging_files = [path for path in model_root.glob(".tmp-*/**/*") if path.is_file()]
            if staging_files:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(POLL_SECONDS)
        return process.wait(timeout=30), sorted(path.name for path in model_root.glob(".tmp-*/**/*"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def served_version(model_dir: Path, log_path: Path) -> int | None:
    """Start a real server on model_dir and return the version its forecast reports.

    A separate process keeps this check independent of the XLA state that earlier
    tests leave in the pytest process.
    """
    process, base_url = start_server(model_dir, log_path, FORECAST_MAX_BATCH_SIZE="4", FORECAST_RELOAD_INTERVAL_SECONDS="0")
    try:
        response = httpx.post(f"{base_url}/forecast", json={"window": WINDOW}, timeout=30)
    finally:
        stop_server(process)
    return response.json()["model"]["version"] if response.status_code == 200 else None


async def test_training_killed_during_export_publishes_nothing(trained_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(trained_model_dir / MODEL_NAME / "1", model_dir / MODEL_NAME / "1")

    exit_code, staged_files = await asyncio.to_thread(kill_during_export, model_dir)

    assert exit_code == -signal.SIGKILL, "training finished before it could be killed during the export"
    assert staged_files, "the staging directory was empty when training was killed"
    assert list_versions(model_dir, MODEL_NAME) == [1]
    assert await asyncio.to_thread(served_version, model_dir, tmp_path / "server-1.log") == 1

    completed = await asyncio.to_thread(
        subprocess.run, training_command(model_dir), cwd=ROOT, env=quiet_environment(), capture_output=True, text=True, timeout=TRAINING_TIMEOUT_SECONDS
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert list_versions(model_dir, MODEL_NAME) == [1, 2]
    assert not list((model_dir / MODEL_NAME).glob(".tmp-*")), "the killed run's staging directory was not removed"
    assert await asyncio.to_thread(served_version, model_dir, tmp_path / "server-2.log") == 2
