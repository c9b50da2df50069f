"""HTTP-level load with wrk against a real uvicorn on 127.0.0.1, and the server's memory under load."""

import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = ROOT / "bench" / "wrk" / "post_bodies.lua"
READY_TIMEOUT_SECONDS = 180.0
CONCURRENCIES = (1, 16, 64)
WINDOW = [round(0.5 + 0.4 * ((t % 17) / 17), 6) for t in range(50)]


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk not found on PATH; install it with `apt-get install wrk` (Debian package wrk) and rerun")
    return path


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(model_dir: Path, name: str, log_path: Path, **settings: str) -> Iterator[tuple[str, int]]:
    """Start `python -m service` on a free loopback port; yields its base URL and process id."""
    port = find_free_port()
    environment = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "FORECAST_MODEL_DIR": str(model_dir),
        "FORECAST_MODEL_NAME": name,
        "FORECAST_HOST": "127.0.0.1",
        "FORECAST_PORT": str(port),
        "FORECAST_LOG_LEVEL": "warning",
        "FORECAST_RELOAD_INTERVAL_SECONDS": "0",
        "FORECAST_ENABLE_ECHO": "true",
        **settings,
    }
    with log_path.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process)
        yield base_url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_ready(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server at {base_url} was not ready after {READY_TIMEOUT_SECONDS:.0f} s")


def write_bodies(bodies: list[dict], directory: Path, name: str) -> Path:
    path = directory / f"{name}.jsonl"
    path.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for body in bodies))
    return path


def run_wrk(url: str, body_file: Path, concurrency: int, seconds: float, max_responses: int = 0) -> dict:
    """Run wrk in its own process with one thread and `concurrency` connections; returns its summary.

    With `max_responses`, the run ends after that many responses or `seconds`, whichever comes first.
    """
    with tempfile.TemporaryDirectory(prefix="wrk-") as directory:
        stopped_marker = Path(directory) / "stopped"
        command = [
            require_wrk(), "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--timeout", "10s", "--latency",
            "-s", str(LUA_SCRIPT), url, "--", str(body_file), str(max_responses), str(stopped_marker),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if max_responses:
            stop_when_marked(process, stopped_marker, seconds + 60)
        stdout, stderr = process.communicate(timeout=seconds + 60)

    for line in stdout.splitlines():
        if line.startswith("JSON:"):
            result = json.loads(line[len("JSON:"):])
            result["requests_per_second"] = result["requests"] / (result["duration_us"] / 1e6)
            result["error_count"] = sum(result["errors"].values())
            return result
    raise RuntimeError(f"wrk printed no summary (exit code {process.returncode}):\n{stdout}\n{stderr}")


def stop_when_marked(process: subprocess.Popen, marker: Path, timeout: float) -> None:
    """Send SIGINT to wrk once its thread has created `marker`, so wrk stops sleeping out its duration."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if marker.exists():
            process.send_signal(signal.SIGINT)
            return
        time.sleep(0.1)


def measure_throughput(model_dir: Path, name: str, work_dir: Path, seconds: float) -> list[dict]:
    """One-step and horizon-100 requests on /forecast (batching on and off) and /echo, at each concurrency."""
    bodies = {
        "one-step": write_bodies([{"window": WINDOW, "horizon": 1}], work_dir, "one-step"),
        "horizon 100": write_bodies([{"window": WINDOW, "horizon": 100}], work_dir, "horizon-100"),
    }
    rows = []
    for batching in ("true", "false"):
        with running_server(model_dir, name, work_dir / f"server-batching-{batching}.log", FORECAST_BATCHING=batching) as (base_url, _):
            targets = [("forecast", "/forecast")] + ([("echo", "/echo")] if batching == "true" else [])
            for endpoint, path in targets:
                for request, body_file in bodies.items():
                    for concurrency in CONCURRENCIES:
                        result = run_wrk(f"{base_url}{path}", body_file, concurrency, seconds)
                        row = {"endpoint": endpoint, "batching": batching == "true" if endpoint == "forecast" else None,
                               "request": request, "concurrency": concurrency, **result}
                        logger.info("%s %s c=%d batching=%s: %.0f req/s", endpoint, request, concurrency, batching, row["requests_per_second"])
                        rows.append(row)
    return rows


def read_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS line in /proc/{pid}/status")


def mixed_bodies(count: int, max_windows: int, seed: int = 0) -> list[dict]:
    """Bodies for /forecast/batch with random horizons 1..1000 and random numbers of windows."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        windows = [[round(rng.uniform(-1, 1), 6) for _ in range(50)] for _ in range(rng.randint(1, max_windows))]
        bodies.append({"windows": windows, "horizon": rng.randint(1, 1000)})
    return bodies


def measure_memory(model_dir: Path, name: str, work_dir: Path, requests: int, max_seconds: float, max_windows: int) -> dict:
    """RSS of the server before and after `requests` mixed requests, after a short warm-up run.

    The warm-up lets thread pools, allocator arenas and caches reach their size
    before the first reading, so the growth measured is what the load adds.
    """
    body_file = write_bodies(mixed_bodies(500, max_windows), work_dir, "mixed")
    with running_server(model_dir, name, work_dir / "server-memory.log") as (base_url, pid):
        warm_up = run_wrk(f"{base_url}/forecast/batch", body_file, 16, 60, max_responses=1000)
        rss_before = read_rss_bytes(pid)
        result = run_wrk(f"{base_url}/forecast/batch", body_file, 16, max_seconds, max_responses=requests)
        rss_after = read_rss_bytes(pid)
    return {
        "target_requests": requests,
        "warm_up_requests": warm_up["requests"],
        "max_windows": max_windows,
        "rss_before_mib": rss_before / 2**20,
        "rss_after_mib": rss_after / 2**20,
        "rss_growth_percent": 100 * (rss_after - rss_before) / rss_before,
        **result,
    }


def run(model_dir: Path, name: str, seconds: float, memory_requests: int, memory_seconds: float, memory_max_windows: int) -> dict:
    require_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        work_dir = Path(directory)
        throughput = measure_throughput(model_dir, name, work_dir, seconds)
        memory = measure_memory(model_dir, name, work_dir, memory_requests, memory_seconds, memory_max_windows) if memory_requests else None
    return {"throughput": throughput, "memory": memory}
