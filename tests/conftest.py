"""Shared fixtures: one small model trained with the real training command, and a live server."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

# NOTE: a full run in one process has crashed with a segmentation fault inside XLA. It came
# when an in-process app loaded a model after some hundreds of apps had loaded one, with and
# without XLA's persistent cache, and its cause is not known. So `make test` runs each test
# file in its own pytest process.

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "sine"
SERVER_START_TIMEOUT_SECONDS = 120.0
TEST_MAX_BATCH_SIZE = 4


def quiet_environment(**extra: str) -> dict[str, str]:
    """The current environment with TensorFlow's C++ start-up chatter turned down."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train the default model once per session with `python -m training`.

    The default linear initialization takes under a second, so the session
    serves the same model that a default run publishes.
    """
    model_dir = tmp_path_factory.mktemp("model-repository")
    command = [
        sys.executable, "-m", "training",
        "--model-dir", str(model_dir),
        "--name", MODEL_NAME,
        "--max-mae", "1.0",
    ]
    completed = subprocess.run(command, cwd=ROOT, env=quiet_environment(), capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, f"training failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    return model_dir


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(trained_model_dir: Path) -> Settings:
    # Three batch sizes to compile instead of seven keeps each app's start-up short;
    # tests of batching set their own sizes.
    return Settings(model_dir=trained_model_dir, model_name=MODEL_NAME, max_batch_size=TEST_MAX_BATCH_SIZE)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client whose app has run its lifespan, so the model is loaded."""
    app = create_app(settings, registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(base_url: str, process: subprocess.Popen, timeout: float, path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before becoming ready")
        try:
            if httpx.get(f"{base_url}{path}", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server at {base_url} was not ready after {timeout:.0f} s")


def start_server(model_dir: Path, log_path: Path, ready_path: str = "/readyz", **settings: str) -> tuple[subprocess.Popen, str]:
    """Start `python -m service` on a free loopback port and wait until `ready_path` returns 200.

    Pass ready_path="/healthz" for a server that has no model to load.
    """
    port = find_free_port()
    environment = quiet_environment(
        FORECAST_MODEL_DIR=str(model_dir),
        FORECAST_MODEL_NAME=MODEL_NAME,
        FORECAST_HOST="127.0.0.1",
        FORECAST_PORT=str(port),
        **settings,
    )
    log_file = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process, SERVER_START_TIMEOUT_SECONDS, ready_path)
    except Exception:
        stop_server(process)
        raise RuntimeError(f"server did not start; log:\n{log_path.read_text()[-3000:]}") from None
    return process, base_url


def stop_server(process: subprocess.Popen) -> int:
    """Send SIGTERM and wait; kill if it does not exit in time. Returns the exit code."""
    process.terminate()
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn process serving the trained model; yields its base URL."""
    log_path = tmp_path_factory.mktemp("live-server") / "server.log"
    process, base_url = start_server(trained_model_dir, log_path)
    try:
        yield base_url
    finally:
        stop_server(process)
