"""Reading traces: ``read_traces`` on 100,000 spans, timed as a whole process against an empty one.

    .venv/bin/python benchmarks/bench_calibrate.py [--spans 100000] [--repeats 3] [--seed 0] [--cache DIR]

Writes the spans once with the test helper (tests/otel_traces.py: the real OpenTelemetry SDK, its OTLP
encoder, one request of at most 512 spans per line, as the Collector's file exporter writes them) from
the realistic customer-service agent ``agent_conversations(n, seed)``: whole conversations until there are
at least ``--spans`` spans. The file is cached under the temporary folder (``--cache``), keyed by the span
count, the seed and the helper's source, so later runs time the reading alone.

Then, alternately, ``--repeats`` times each: ``python -c "from sim.calibration.traces import read_traces;
read_traces([FILE])"`` and ``python -c pass``, each a fresh process, wall clock. It prints each median, the
reading's own time (the difference), spans per second and the ratio of the two processes.

**Targets: the reading process under 5 s for 100,000 spans; the whole ``costsim calibrate`` (read, fit,
check in sample on 10,000 simulated tasks, write the file) under 10 s**, timed the same way.
Speed goals live here, in a script that prints figures, never in a timed unit test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPER = ROOT / "tests" / "otel_traces.py"
TARGET_S = 5.0
CALIBRATE_TARGET_S = 10.0
CHUNK_CONVERSATIONS = 500  # conversations recorded at a time (keeps the SDK's spans in memory small)


def trace_file(spans: int, seed: int, cache: Path) -> tuple[Path, int, float]:
    """The cached OTLP file of at least ``spans`` spans: (path, its span count, seconds spent writing it;
    0 when it was cached)."""
    sys.path.insert(0, str(HELPER.parent))
    import otel_traces as helper

    key = hashlib.sha256(HELPER.read_bytes()).hexdigest()[:12]
    path = cache / f"agent-{spans}-seed{seed}-{key}.jsonl"
    count_file = path.with_suffix(".count")
    if path.exists() and count_file.exists():
        return path, int(count_file.read_text()), 0.0
    began = time.perf_counter()
    # Conversations are drawn one after another from one generator: a longer list starts with a shorter one.
    pilot = max(1, spans // 8)
    while True:
        conversations, _ = helper.agent_conversations(pilot, seed)
        totals, total = [], 0
        for events in conversations:
            total += helper.span_count([events])
            totals.append(total)
            if total >= spans:
                break
        if total >= spans:
            conversations = conversations[:len(totals)]
            break
        pilot *= 2
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for first in range(0, len(conversations), CHUNK_CONVERSATIONS):
            chunk = conversations[first:first + CHUNK_CONVERSATIONS]
            recorded = helper.record_spans(
                chunk, start_unix_s=helper.START_UNIX_S + first * helper.CONVERSATION_GAP_S,
                conversation_ids=[f"conv-{number:06d}" for number in range(first, first + len(chunk))],
                seed=[seed, first])  # trace ids of their own in each chunk
            for request in helper.otlp_requests(recorded):
                handle.write(json.dumps(request, separators=(",", ":")) + "\n")
    os.replace(partial, path)
    count_file.write_text(str(total))
    return path, total, time.perf_counter() - began


def timed(command: list[str]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds) of one run of ``command`` as a child process. On a machine shared
    with other work the CPU time moves less than the wall clock."""
    before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall_s, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall_s, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "costsim-bench-calibrate")
    args = parser.parse_args(argv)

    path, spans, written_s = trace_file(args.spans, args.seed, args.cache)
    size_mb = path.stat().st_size / 1e6
    print(f"trace file: {path} ({spans:,} spans, {size_mb:,.1f} MB, "
          + (f"written by the SDK helper in {written_s:,.1f} s)" if written_s else "cached)"))
    read = [sys.executable, "-c", "import sys; from sim.calibration.traces import read_traces; "
            f"t = read_traces([{str(path)!r}]); print(len(t.tasks), t.calls(), t.skipped)"]
    empty = [sys.executable, "-c", "pass"]
    summary = subprocess.run(read, check=True, cwd=ROOT, capture_output=True, text=True).stdout.split(" ", 2)
    print(f"read: {int(summary[0]):,} tasks, {int(summary[1]):,} calls, skipped {summary[2].strip()}")
    reads, starts = [], []
    for _ in range(args.repeats):  # alternate, so that a busy moment of the machine hits both
        reads.append(timed(read))
        starts.append(timed(empty))
    read_s, start_s = (statistics.median(wall_s for wall_s, _ in runs) for runs in (reads, starts))
    read_cpu, start_cpu = (statistics.median(cpu_s for _, cpu_s in runs) for runs in (reads, starts))
    for label, runs, wall_s, cpu_s in (("python -c 'read_traces(FILE)'", reads, read_s, read_cpu),
                                       ("python -c pass", starts, start_s, start_cpu)):
        print(f"{label + ':':31} median {wall_s:.3f} s wall, {cpu_s:.3f} s CPU, of {args.repeats} "
              f"({', '.join(f'{w:.3f}' for w, _ in runs)} s wall)")
    own_s = read_s - start_s
    print(f"reading alone: {own_s:.3f} s wall ({read_cpu - start_cpu:.3f} s CPU), {spans / own_s:,.0f} spans/s; "
          f"ratio read/pass {read_s / start_s:.1f}")
    verdict = "meets" if read_s < TARGET_S * spans / 100_000 else "MISSES"
    print(f"target: under {TARGET_S:.0f} s per 100,000 spans for the whole process: {verdict} it")

    # The whole command a user runs: read, fit, check in sample (10,000 simulated tasks), write the file.
    out = args.cache / "fitted.yaml"
    costsim = str(Path(sys.executable).with_name("costsim"))
    calibrate = [costsim, "calibrate", str(path), "--out", str(out)]
    whole = []
    for _ in range(args.repeats):
        whole.append(timed(calibrate))
    whole_s = statistics.median(wall_s for wall_s, _ in whole)
    whole_cpu = statistics.median(cpu_s for _, cpu_s in whole)
    print(f"{'costsim calibrate FILE:':31} median {whole_s:.3f} s wall, {whole_cpu:.3f} s CPU, of {args.repeats} "
          f"({', '.join(f'{w:.3f}' for w, _ in whole)} s wall); ratio to python -c pass {whole_s / start_s:.1f}")
    verdict = "meets" if whole_s < CALIBRATE_TARGET_S * spans / 100_000 else "MISSES"
    print(f"target: costsim calibrate under {CALIBRATE_TARGET_S:.0f} s per 100,000 spans: {verdict} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
