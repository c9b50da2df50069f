"""Time the garbage collector's pauses in the service while wrk sends one-step forecasts.

Runs the app under uvicorn in this process on a free loopback port, with a
`gc.callbacks` hook that times every collection, and prints the count, the
longest pause and the total per generation, with wrk's p50 and p99. With
`--no-freeze` the start-up objects stay in the collector's view, as before the
service froze them. Needs wrk (Debian package wrk).
Usage: python -m bench.gc_pauses [--model-dir model] [--name sine] [--seconds 20] [--no-freeze]
"""

import argparse
import asyncio
import gc
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

import service.app
from bench.http_level import WINDOW, find_free_port, run_wrk, write_bodies
from service.settings import Settings
from training.versioning import existing_versions


class PauseTimer:
    """Collector pauses as (generation, seconds), recorded by a `gc.callbacks` hook."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return

        self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def summary(self, since: int) -> list[str]:
        lines = []
        for generation in range(3):
            durations = [duration for collected, duration in self.pauses[since:] if collected == generation]
            if durations:
                lines.append(
                    f"generation {generation}: {len(durations)} collections, longest {1000 * max(durations):.1f} ms, "
                    f"total {1000 * sum(durations):.0f} ms"
                )
        return lines


def load_in_background(server: uvicorn.Server, url: str, seconds: float, concurrency: int, timer: PauseTimer, report: dict) -> None:
    """Wait for start-up, warm up for 5 s, run the measured wrk run into `report`, then stop the server."""
    while not server.started:
        time.sleep(0.1)

    with tempfile.TemporaryDirectory(prefix="gc-pauses-") as directory:
        body_file = write_bodies([{"window": WINDOW, "horizon": 1}], Path(directory), "one-step")
        run_wrk(url, body_file, concurrency, 5)
        report["since"] = len(timer.pauses)
        report["wrk"] = run_wrk(url, body_file, concurrency, seconds)

    server.should_exit = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("model"))
    parser.add_argument("--name", default="sine")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the measured wrk run (default: 20)")
    parser.add_argument("--concurrency", type=int, default=16, help="wrk connections (default: 16)")
    parser.add_argument("--no-freeze", action="store_true", help="keep the start-up objects in the collector's view")
    args = parser.parse_args()

    if not existing_versions(args.model_dir / args.name):
        raise SystemExit(f"no model version in {args.model_dir / args.name}; train one first with `make model`")

    if not args.no_freeze:
        service.app.freeze_startup_objects()  # As create_app_from_environment does before it builds the app.

    timer = PauseTimer()
    gc.callbacks.append(timer)
    port = find_free_port()
    settings = Settings(model_dir=args.model_dir, model_name=args.name, host="127.0.0.1", port=port, reload_interval_seconds=0)
    server = uvicorn.Server(uvicorn.Config(service.app.create_app(settings), host="127.0.0.1", port=port, log_level="warning"))

    report: dict = {}
    url = f"http://127.0.0.1:{port}/forecast"
    loader = threading.Thread(target=load_in_background, args=(server, url, args.seconds, args.concurrency, timer, report))
    loader.start()
    asyncio.run(server.serve())
    loader.join()

    wrk = report["wrk"]
    if wrk["error_count"]:
        raise SystemExit(f"{wrk['error_count']} of {wrk['requests']} requests failed; the pauses below would not be those of forecasts")
    print(f"freeze: {'off' if args.no_freeze else 'on'}; {wrk['requests_per_second']:.0f} req/s, "
          f"p50 {wrk['p50_us'] / 1000:.2f} ms, p99 {wrk['p99_us'] / 1000:.2f} ms, errors {wrk['error_count']}")
    print("\n".join(timer.summary(report["since"])))


if __name__ == "__main__":
    main()
