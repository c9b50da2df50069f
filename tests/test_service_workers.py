"""Several uvicorn workers in one server: /metrics adds up every worker's counts."""

import os
from pathlib import Path

import httpx
import pytest

from service.__main__ import prepare_multiprocess_dir
from service.client import ForecastClient
from service.metrics import MULTIPROC_DIR_VARIABLE
from service.settings import Settings
from conftest import start_server, stop_server

WINDOW = [0.5] * 50
FORECASTS = 24
SCRAPES = 6
FORECAST_SERIES = 'forecast_http_requests_total{method="POST",route="/forecast",status="200"}'


def count_of(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def two_worker_server(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real server with two workers and a multiprocess metrics directory; yields (base URL, that directory)."""
    directory = tmp_path_factory.mktemp("two-workers")
    metrics_dir = directory / "metrics"
    process, base_url = start_server(
        trained_model_dir, directory / "server.log", FORECAST_WORKERS="2", **{MULTIPROC_DIR_VARIABLE: str(metrics_dir)}
    )
    try:
        yield base_url, metrics_dir
    finally:
        stop_server(process)


@pytest.mark.slow
def test_workers_metrics_add_up_across_workers(two_worker_server: tuple[str, Path]) -> None:
    base_url, metrics_dir = two_worker_server
    # A new connection per request, so the kernel hands requests to either worker.
    for _ in range(FORECASTS):
        with ForecastClient(base_url, retries=10, backoff_seconds=0.2) as client:
            client.forecast(WINDOW)

    totals = [count_of(httpx.get(f"{base_url}/metrics", timeout=10).text, FORECAST_SERIES) for _ in range(SCRAPES)]

    assert totals == [float(FORECASTS)] * SCRAPES


@pytest.mark.slow
def test_workers_each_write_metric_files(two_worker_server: tuple[str, Path]) -> None:
    _, metrics_dir = two_worker_server

    pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}

    assert len(pids) == 2


@pytest.mark.slow
def test_workers_report_served_version_once(two_worker_server: tuple[str, Path]) -> None:
    base_url, _ = two_worker_server

    text = httpx.get(f"{base_url}/metrics", timeout=10).text

    assert [line for line in text.splitlines() if line.startswith("forecast_model_info{")] == [
        'forecast_model_info{name="sine",version="1"} 1.0'
    ]


def test_prepare_multiprocess_dir_removes_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "counter_12345.db"
    stale.write_bytes(b"left by an earlier run")
    monkeypatch.setenv(MULTIPROC_DIR_VARIABLE, str(tmp_path))

    created = prepare_multiprocess_dir(Settings(workers=2))

    assert created is None
    assert not stale.exists()


def test_prepare_multiprocess_dir_creates_one_for_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE, raising=False)

    created = prepare_multiprocess_dir(Settings(workers=2))

    try:
        assert created is not None
        assert os.environ[MULTIPROC_DIR_VARIABLE] == str(created)
    finally:
        os.rmdir(created)


def test_prepare_multiprocess_dir_skips_single_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE, raising=False)

    assert prepare_multiprocess_dir(Settings(workers=1)) is None
    assert MULTIPROC_DIR_VARIABLE not in os.environ
