"""Smoke test of docker-compose.yml with podman and podman-compose, on loopback only.

Installs podman, runc, debootstrap and podman-compose when they are missing.
Builds stand-ins for the public base images when absent (base_images.sh), then
the service image. Then it brings up trainer, two api replicas behind nginx and
Prometheus, and waits for readiness by polling. It calls /forecast through
nginx, and checks through Prometheus' HTTP API that both api targets are up and
that the forecast counter moved. It trains again and waits for every replica to
serve the new version. It tears the stack down with `down -v`, also when a step fails.

Run it as root: `make compose-smoke`. Every wait is bounded.
"""

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from service.client import ForecastAPIError, ForecastClient  # noqa: E402  (needs the path above)

logger = logging.getLogger("compose_smoke")

SMOKE_DIR = ROOT / "deploy" / "smoke"
PODMAN_COMPOSE_VERSION = "1.6.0"
PODMAN_COMPOSE_VENV = Path("/opt/podman-compose")
PROJECT = "forecast-smoke"
IMAGE = "localhost/forecast:smoke"
REPLICAS = 2
WINDOW = [0.5] * 50
FORECAST_CALLS = 10
# Few epochs and a loose quality gate: the smoke test checks the plumbing, not the accuracy.
TRAIN_ARGS = "--epochs 3 --max-mae 1.0"

INSTALL_TIMEOUT = 900
BUILD_TIMEOUT = 1200
UP_TIMEOUT = 900
READY_TIMEOUT = 300
TARGETS_TIMEOUT = 120
COUNTER_TIMEOUT = 60
RETRAIN_TIMEOUT = 600
RELOAD_TIMEOUT = 120
DOWN_TIMEOUT = 180
POLL_SECONDS = 1.0


def run(command: list[str], environment: dict[str, str], timeout: float, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with a time limit, logging it; raise CalledProcessError on failure when `check`."""
    logger.info("$ %s", " ".join(command))
    return subprocess.run(command, env=environment, cwd=ROOT, timeout=timeout, check=check)


def wait_for(description: str, probe: Callable[[], Any], timeout: float) -> Any:
    """Call `probe` until it returns a truthy value; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except (httpx.HTTPError, ForecastAPIError, KeyError, ValueError) as error:
            last_error = error
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {description} (last error: {last_error})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_tools(environment: dict[str, str]) -> Path:
    """Install podman, runc, debootstrap and podman-compose when missing; return podman-compose's path."""
    if not all(shutil.which(tool) for tool in ("podman", "runc", "debootstrap")):
        apt_environment = {**environment, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update"], apt_environment, INSTALL_TIMEOUT)
        run(["apt-get", "install", "-y", "podman", "runc", "debootstrap"], apt_environment, INSTALL_TIMEOUT)

    configured = environment.get("PODMAN_COMPOSE")
    if configured:
        return Path(configured)
    podman_compose = PODMAN_COMPOSE_VENV / "bin" / "podman-compose"
    if not podman_compose.exists():
        run([sys.executable, "-m", "venv", "--clear", str(PODMAN_COMPOSE_VENV)], environment, INSTALL_TIMEOUT)
        run([str(PODMAN_COMPOSE_VENV / "bin" / "pip"), "install", f"podman-compose=={PODMAN_COMPOSE_VERSION}"], environment, INSTALL_TIMEOUT)
    return podman_compose


class Stack:
    """The compose project under test, driven through podman-compose."""

    def __init__(self, podman_compose: Path, environment: dict[str, str], published_port: int, prometheus_port: int) -> None:
        self.podman_compose = podman_compose
        self.environment = environment
        self.api_url = f"http://127.0.0.1:{published_port}"
        self.prometheus_url = f"http://127.0.0.1:{prometheus_port}"

    def compose(self, *arguments: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(self.podman_compose), "-p", PROJECT, *arguments], self.environment, timeout, check)

    def up(self) -> None:
        """Start the trainer and Prometheus, wait for the trainer to exit 0, then start the api replicas and nginx.

        Two steps with --no-deps, because podman-compose 1.6.0 creates each
        dependent container with `podman --requires`, and podman starts a
        stopped required container again: the trainer would train once more for
        every api container that starts, and `down` fails on the dependency
        chain. Docker Compose honours `service_completed_successfully` and runs
        the trainer once.
        """
        self.compose("up", "-d", "--no-build", "--no-deps", "trainer", "prometheus", timeout=UP_TIMEOUT)
        self.wait_for_trainer()
        self.compose("up", "-d", "--no-build", "--no-deps", "--scale", f"api={REPLICAS}", "api", "nginx", timeout=UP_TIMEOUT)

    def wait_for_trainer(self) -> None:
        """Wait until the trainer container has stopped, and check that it exited 0."""
        name = f"{PROJECT}_trainer_1"
        completed = subprocess.run(["podman", "wait", name], env=self.environment, capture_output=True, text=True, timeout=RETRAIN_TIMEOUT)
        exit_code = completed.stdout.strip()
        if completed.returncode != 0 or exit_code != "0":
            raise RuntimeError(f"{name} did not exit 0: exit code {exit_code!r}, podman wait printed {completed.stderr.strip()!r}")

    def published_versions(self) -> list[int]:
        """Return the model versions in the models volume, read through the volume's host directory."""
        inspected = subprocess.run(
            ["podman", "volume", "inspect", f"{PROJECT}_models", "--format", "{{.Mountpoint}}"],
            env=self.environment, capture_output=True, text=True, timeout=60, check=True,
        )
        model_root = Path(inspected.stdout.strip()) / "sine"
        return sorted(int(entry.name) for entry in model_root.iterdir() if entry.name.isdigit())

    def retrain(self) -> None:
        self.compose("run", "--rm", "trainer", timeout=RETRAIN_TIMEOUT)

    def show_logs(self) -> None:
        """Print the tail of every container's log, to explain a failure."""
        listing = subprocess.run(
            ["podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}", "--format", "{{.Names}} {{.Status}}"],
            env=self.environment, capture_output=True, text=True, timeout=60,
        )
        for line in listing.stdout.splitlines():
            name = line.split()[0]
            logger.error("---- %s", line)
            subprocess.run(["podman", "logs", "--tail", "40", name], env=self.environment, timeout=60)

    def down(self) -> None:
        """Remove the project's containers, volumes and network, also what `down -v` left behind."""
        self.compose("down", "-v", "--timeout", "10", timeout=DOWN_TIMEOUT, check=False)

        label = f"label=io.podman.compose.project={PROJECT}"
        for kind in ("container", "volume", "network"):
            listing = subprocess.run(
                ["podman", kind, "ls", "--quiet", "--filter", label] + (["--all"] if kind == "container" else []),
                env=self.environment, capture_output=True, text=True, timeout=60,
            )
            leftovers = listing.stdout.split()
            if leftovers:
                logger.warning("removing %s(s) that down -v left: %s", kind, " ".join(leftovers))
                subprocess.run(["podman", kind, "rm", "--force", *leftovers], env=self.environment, timeout=DOWN_TIMEOUT)


def served_version(client: ForecastClient) -> int:
    return client.ready().model_version


def api_targets(prometheus_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus_url}/api/v1/targets", params={"state": "active"}, timeout=5)
    response.raise_for_status()
    return [target for target in response.json()["data"]["activeTargets"] if target["labels"]["job"] == "forecast-api"]


def all_targets_up(prometheus_url: str) -> list[dict[str, Any]] | None:
    targets = api_targets(prometheus_url)
    if len(targets) == REPLICAS and all(target["health"] == "up" for target in targets):
        return targets
    logger.info("api targets: %s", [(target["labels"]["instance"], target["health"]) for target in targets])
    return None


def query_scalar(prometheus_url: str, expression: str) -> float:
    """Return the value of an instant query with one result, or 0 when it has none."""
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expression}, timeout=5)
    response.raise_for_status()
    results = response.json()["data"]["result"]
    return float(results[0]["value"][1]) if results else 0.0


def every_replica_serves(client: ForecastClient, version: int) -> bool:
    """Ask /readyz several times in a row, so that nginx has sent the request to every replica."""
    return all(served_version(client) == version for _ in range(4 * REPLICAS))


def check_stack(stack: Stack) -> None:
    with ForecastClient(stack.api_url, timeout=10, retries=5) as client:
        wait_for("the api behind nginx to be ready", lambda: served_version(client), READY_TIMEOUT)
        latest = stack.published_versions()[-1]
        wait_for(f"every replica to serve version {latest}", lambda: every_replica_serves(client, latest), RELOAD_TIMEOUT)
        logger.info("ready: serving version %d through %s", latest, stack.api_url)

        for _ in range(FORECAST_CALLS):
            result = client.forecast(WINDOW, horizon=3)
            assert len(result.forecast) == 3, f"expected 3 forecast values, got {result.forecast}"
        logger.info("%d forecasts through nginx, the last: %s", FORECAST_CALLS, result.forecast)

        targets = wait_for(f"{REPLICAS} api targets up in Prometheus", lambda: all_targets_up(stack.prometheus_url), TARGETS_TIMEOUT)
        logger.info("Prometheus scrapes %s", sorted(target["labels"]["instance"] for target in targets))

        expression = 'sum(forecast_http_requests_total{route="/forecast",status="200"})'
        total = wait_for(
            f"Prometheus to count {FORECAST_CALLS} forecasts",
            lambda: (value := query_scalar(stack.prometheus_url, expression)) >= FORECAST_CALLS and value,
            COUNTER_TIMEOUT,
        )
        logger.info("Prometheus counts %.0f forecasts over all replicas", total)

        stack.retrain()
        wait_for(f"every replica to serve version {latest + 1}", lambda: every_replica_serves(client, latest + 1), RELOAD_TIMEOUT)
        logger.info("reloaded: version %d served without a restart", latest + 1)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running after the checks, for debugging")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # One line per poll would bury the steps.
    if os.geteuid() != 0:
        logger.error("run the smoke test as root: podman here needs root for networks and storage")
        return 2

    started = time.monotonic()
    published_port, prometheus_port = free_port(), free_port()
    environment = {
        **os.environ,
        "CONTAINERS_CONF": str(SMOKE_DIR / "containers.conf"),
        "COMPOSE_PROJECT_NAME": PROJECT,
        "FORECAST_IMAGE": IMAGE,
        "FORECAST_PUBLISHED_PORT": str(published_port),
        "PROMETHEUS_PORT": str(prometheus_port),
        "FORECAST_WORKERS": "2",
        "FORECAST_RELOAD_INTERVAL_SECONDS": "2",
        "TRAIN_ARGS": TRAIN_ARGS,
    }

    podman_compose = install_tools(environment)
    run(["bash", str(SMOKE_DIR / "base_images.sh")], environment, INSTALL_TIMEOUT)
    # The docker format keeps the HEALTHCHECK, which the OCI format drops.
    run(["podman", "build", "--format", "docker", "--network=host", "-t", IMAGE, "."], environment, BUILD_TIMEOUT)
    logger.info("image built after %.0f s", time.monotonic() - started)

    stack = Stack(podman_compose, environment, published_port, prometheus_port)
    try:
        stack.up()
        check_stack(stack)
    except Exception:
        stack.show_logs()
        raise
    finally:
        if not args.keep:
            stack.down()

    logger.info("compose smoke test passed in %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
