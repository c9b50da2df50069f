"""Render benchmark results as markdown tables, with the ratios the targets are stated in."""


def render_markdown(results: dict) -> str:
    sections = [f"Benchmark of model {results['model']['name']} version {results['model']['version']}, "
                f"started {results['started_at']} on {results['machine']['cpus']} CPUs ({results['machine']['platform']}), "
                f"load average before {format_load(results['machine']['load_average'])}, after {format_load(results['machine']['load_average_after'])}."]
    sections.append(render_json(results["json"]))
    if "model_level" in results:
        sections.append(render_variants(results["model_level"]["variants"]))
        sections.append(render_strategies(results["model_level"]["horizon_strategies"]))
    if "http_level" in results:
        sections.append(render_throughput(results["http_level"]["throughput"]))
        if results["http_level"]["memory"]:
            sections.append(render_memory(results["http_level"]["memory"]))
    return "\n\n".join(sections)


def format_load(load: list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


def render_json(rows: list[dict]) -> str:
    lines = ["### JSON", "", "| operation | µs |", "|---|---:|"]
    lines += [f"| {row['operation']} | {row['microseconds']:.1f} |" for row in rows]
    return "\n".join(lines)


def render_variants(rows: list[dict]) -> str:
    compiled = {(row["batch"], row["horizon"]): row["median_ms"] for row in rows if row["variant"] == "compiled signature"}
    lines = ["### Model level (median per call)", "", "| variant | batch | horizon | ms | × compiled | repetitions |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row["median_ms"] is None:
            lines.append(f"| {row['variant']} | {row['batch']} | {row['horizon']} | – | – | {row.get('note', '')} |")
            continue
        ratio = row["median_ms"] / compiled[(row["batch"], row["horizon"])]
        lines.append(f"| {row['variant']} | {row['batch']} | {row['horizon']} | {row['median_ms']:.3f} | {ratio:.1f} | {row['repetitions']} |")
    return "\n".join(lines)


def render_strategies(rows: list[dict]) -> str:
    lines = ["### Horizon strategy (one batch of concurrent requests)", "", "| mix | requests | strategy | calls | ms |", "|---|---:|---|---:|---:|"]
    lines += [f"| {row['mix']} | {row['requests']} | {row['strategy']} | {row['calls']} | {row['median_ms']:.2f} |" for row in rows]
    return "\n".join(lines)


def render_throughput(rows: list[dict]) -> str:
    lines = ["### HTTP (wrk, 1 thread, loopback)", "", "| endpoint | batching | request | concurrency | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        batching = {None: "–", True: "on", False: "off"}[row["batching"]]
        lines.append(
            f"| {row['endpoint']} | {batching} | {row['request']} | {row['concurrency']} | {row['requests_per_second']:.0f} | "
            f"{row['p50_us'] / 1000:.2f} | {row['p99_us'] / 1000:.2f} | {row['error_count']} |"
        )
    return "\n".join(lines)


def render_memory(memory: dict) -> str:
    return "\n".join([
        "### Memory (POST /forecast/batch, random horizons 1..1000, 1 to "
        f"{memory['max_windows']} windows, 16 connections)", "",
        "| requests | seconds | RSS before MiB | RSS after MiB | growth % | errors |", "|---:|---:|---:|---:|---:|---:|",
        f"| {memory['requests']} of {memory['target_requests']} | {memory['duration_us'] / 1e6:.0f} | {memory['rss_before_mib']:.1f} | "
        f"{memory['rss_after_mib']:.1f} | {memory['rss_growth_percent']:.2f} | {memory['error_count']} |",
    ])
