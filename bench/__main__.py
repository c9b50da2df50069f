"""Run the benchmark, print a markdown report and write the results as JSON to bench/results/."""

import argparse
import datetime
import json
import logging
import os
import platform
from pathlib import Path

from bench import http_level, json_parsing, model_level
from bench.report import render_markdown
from service.model_store import find_latest_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("model"), help="model repository (default: model)")
    parser.add_argument("--name", default="sine", help="model name under --model-dir (default: sine)")
    parser.add_argument("--http-seconds", type=float, default=5.0, help="duration of each wrk run, in seconds (default: 5)")
    parser.add_argument("--memory-requests", type=int, default=50_000, help="requests of the memory run; 0 skips it (default: 50000)")
    parser.add_argument("--memory-seconds", type=float, default=1200.0, help="time limit of the memory run, in seconds (default: 1200)")
    parser.add_argument("--memory-max-windows", type=int, default=4, help="maximum number of windows per request in the memory run (default: 4)")
    parser.add_argument("--skip-model", action="store_true", help="skip the model-level timings")
    parser.add_argument("--skip-http", action="store_true", help="skip the HTTP and memory runs")
    return parser.parse_args()


def describe_machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(), "load_average": os.getloadavg()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    arguments = parse_arguments()
    version = find_latest_version(arguments.model_dir, arguments.name)
    if version is None:
        raise SystemExit(f"no model version in {arguments.model_dir / arguments.name}; train one with `make model`")

    results: dict = {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": describe_machine()}
    results["model"] = {"name": arguments.name, "version": version}
    results["json"] = json_parsing.run()
    if not arguments.skip_model:
        results["model_level"] = model_level.run(arguments.model_dir, arguments.name, version)
    if not arguments.skip_http:
        results["http_level"] = http_level.run(
            arguments.model_dir, arguments.name, arguments.http_seconds,
            arguments.memory_requests, arguments.memory_seconds, arguments.memory_max_windows,
        )
    results["machine"]["load_average_after"] = os.getloadavg()

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-{results['started_at'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(render_markdown(results))  # The report is this command's output.
    print(f"\nResults written to {path}")


if __name__ == "__main__":
    main()
