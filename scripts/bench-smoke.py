#!/usr/bin/env python3
"""`make bench` (smoke): the Smoke suite in CPU mode N times after the build; prints the median wall
time of the whole suite (main run + three failure scenarios) and the median per-stage times of the
main worker run, read from tmp/orchestrator-smoke/last-report.json."""
import json, os, statistics, subprocess, sys, time

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
report_path = "tmp/orchestrator-smoke/last-report.json"
walls, reports = [], []
env = dict(os.environ, SMOKE_ARGS="--cpu " + os.environ.get("SMOKE_ARGS", ""))
# Warm-up: builds the embedded default source DB once, so every timed run measures the same work.
subprocess.run(["swift", "test", "--skip-build", "--filter", "Smoke"], env=env, check=True, capture_output=True)
for i in range(runs):
    start = time.monotonic()
    subprocess.run(["swift", "test", "--skip-build", "--filter", "Smoke"], env=env, check=True, capture_output=True)
    walls.append(time.monotonic() - start)
    with open(report_path) as f:
        report = json.load(f)
    assert report["status"] == "pass", report.get("error")
    reports.append(report)
    print(f"smoke run {i + 1}: {walls[-1]:.1f} s wall, worker {report['timings_ms']['worker_total']} ms", flush=True)

def median(values):
    return statistics.median(values)

print(f"\nsmoke-cpu (median of {runs}): suite wall {median(walls):.1f} s "
      f"(runs: {', '.join(f'{w:.1f}' for w in walls)}); main worker run "
      f"{median([r['timings_ms']['worker_total'] for r in reports]):.0f} ms")
stages = reports[0]["timings_ms"]["stages"].keys()
for stage in sorted(stages, key=lambda s: -median([r["timings_ms"]["stages"].get(s, 0) for r in reports])):
    print(f"  {stage:24s} {median([r['timings_ms']['stages'].get(stage, 0) for r in reports]):8.0f} ms")
scenarios = reports[0]["failure_scenarios"]
for name in sorted(scenarios):
    print(f"  scenario {name:32s} {median([r['failure_scenarios'][name]['duration_ms'] for r in reports]):8.0f} ms")
