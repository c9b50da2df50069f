"""Measure the service's resident memory across hot reloads of new model versions.

Copies the latest version of the model into a temporary repository, starts
`python -m service` on 127.0.0.1 with a reload interval of 1 s, then publishes
copies of that version as versions 2, 3, ... the way training does (a hidden
directory renamed to the next integer). After each reload it reads VmRSS and
prints it, then the mean growth per reload.
Usage: python -m bench.reload_memory [--model-dir model] [--name sine] [--reloads 10]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench.http_level import read_rss_bytes, running_server
from training.versioning import existing_versions

READY_TIMEOUT_SECONDS = 120


def wait_for_version(base_url: str, version: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = httpx.get(f"{base_url}/readyz", timeout=5)
        if response.status_code == 200 and response.json()["model"]["version"] == version:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the service did not serve version {version} within {READY_TIMEOUT_SECONDS} s")


def publish_copy(source: Path, model_root: Path, version: int) -> None:
    staging = model_root / f".copy-{version}"
    shutil.copytree(source, staging)
    staging.rename(model_root / str(version))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("model"))
    parser.add_argument("--name", default="sine")
    parser.add_argument("--reloads", type=int, default=10, help="number of new versions to publish (default: 10)")
    args = parser.parse_args()

    versions = existing_versions(args.model_dir / args.name)
    if not versions:
        raise SystemExit(f"no model version in {args.model_dir / args.name}; train one first with `make model`")
    source = args.model_dir / args.name / str(versions[-1])

    with tempfile.TemporaryDirectory(prefix="reload-memory-") as directory:
        model_root = Path(directory) / "models" / args.name
        shutil.copytree(source, model_root / "1")
        log_path = Path(directory) / "server.log"
        with running_server(model_root.parent, args.name, log_path, FORECAST_RELOAD_INTERVAL_SECONDS="1") as (base_url, pid):
            readings = [read_rss_bytes(pid) / 2**20]
            print(f"version 1: {readings[0]:.1f} MiB")
            for version in range(2, args.reloads + 2):
                publish_copy(source, model_root, version)
                wait_for_version(base_url, version)
                time.sleep(1)  # Lets the replaced version's last requests and references go.
                readings.append(read_rss_bytes(pid) / 2**20)
                print(f"version {version}: {readings[-1]:.1f} MiB")

    growth = (readings[-1] - readings[0]) / args.reloads
    print(f"{args.reloads} reloads: {readings[0]:.1f} -> {readings[-1]:.1f} MiB, {growth:.1f} MiB per reload on average")


if __name__ == "__main__":
    main()
