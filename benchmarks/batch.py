"""Batch benchmark: `exportspec run DIR --jobs N` against a loopback server that rate-limits.

A ThreadingHTTPServer on 127.0.0.1 answers each export POST
(`/data/v2/projects/{token}/customers/export`) after `--delay` seconds with a 1 MB CSV
(Content-Length set), and serves at most `--limit` requests at once: one more is answered
at once with 429 and `Retry-After: 1`. The server counts requests (429s included), 429s,
the peak of requests it was serving (at most `--limit`) and the peak of requests it held
at once, refused ones included (what the client actually sent in parallel).

`--specs` minimal CSV specs, each with its own `output.path`, are written to a temporary
folder and run as one batch, `exportspec run DIR --jobs N -q`, as a child process per N
(1, 4, 8) with a fresh output root; wall time is measured around the child and its peak RSS
comes from os.wait4. Each run must exit 0 and leave one output file per spec. With
`--rounds R`, each N runs R times (N=1, 4, 8, then again); the table gives the median wall
time, time to the first request and span (first request to last answer), and the largest
request counts, concurrency and RSS. A 429 "event" is a burst of refusals less than 0.5 s
apart: each one costs the client a Retry-After pause.

The ideal wall time is specs x delay / min(N, limit). Targets: `--jobs 4` wall <= 1.3 x
ideal; `--jobs 8` requests <= 1.2 x specs and wall <= 2 x the `--jobs 4` wall; peak RSS
< 128 MiB for every N.

    python benchmarks/batch.py [--specs 100] [--delay 0.2] [--jobs 1,4,8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

KEY_ID, SECRET, TOKEN = "bench", "bench-secret", "t"
EXPORT_PATH = f"/data/v2/projects/{TOKEN}/customers/export"
RSS_TARGET_MIB = 128.0


def make_csv(megabytes: int = 1) -> bytes:
    """About `megabytes` MB of CSV: a header and rows of realistic Bloomreach cells."""
    lines = [b"registered,cookie,first_name,last_name,country,total_spent\n"]
    size, i = len(lines[0]), 0
    while size < megabytes * 1_000_000:
        line = (
            f'user{i}@example.com,"[""c{i:08x}"",""d{i:08x}""]",Ann {i},"Smith, Jr.",'
            f"SK,{i * 1.5:.2f}\n"
        ).encode()
        lines.append(line)
        size += len(line)
        i += 1
    return b"".join(lines)


class Counters:
    """What the server saw during one run (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.refused = 0
            self.serving = 0
            self.peak_serving = 0
            self.held = 0
            self.peak_held = 0
            self.first: float | None = None
            self.last: float | None = None
            self.refusals: list[float] = []


def serve(body: bytes, delay: float, limit: int, counters: Counters) -> ThreadingHTTPServer:
    refusal = b'{"success": false, "errors": ["too many requests"]}'

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != EXPORT_PATH:
                self.send_error(404)
                return
            with counters.lock:
                counters.requests += 1
                counters.held += 1
                counters.peak_held = max(counters.peak_held, counters.held)
                if counters.first is None:
                    counters.first = time.perf_counter()
                admitted = counters.serving < limit
                if admitted:
                    counters.serving += 1
                    counters.peak_serving = max(counters.peak_serving, counters.serving)
                else:
                    counters.refused += 1
                    counters.refusals.append(time.perf_counter())
            try:
                if not admitted:
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(refusal)))
                    self.end_headers()
                    self.wfile.write(refusal)
                    return
                try:
                    time.sleep(delay)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                finally:
                    with counters.lock:
                        counters.serving -= 1
            finally:
                with counters.lock:
                    counters.held -= 1
                    counters.last = time.perf_counter()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_specs(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"s{i}.yaml").write_text(
            f"version: 1\nname: s{i}\nexport:\n  format: csv\noutput:\n  path: exports/s{i}.csv\n"
        )


@dataclass(frozen=True)
class Run:
    jobs: int
    wall: float
    ideal: float
    requests: int
    refused: int
    events: int
    peak_serving: int
    peak_held: int
    span: float
    lead: float
    rss_mib: float


def run_batch(
    jobs: int, specs: Path, root: Path, base: str, counters: Counters, args: argparse.Namespace
) -> Run:
    """One batch as a child process; exit code and outputs checked."""
    env = {**os.environ, "EXPORTSPEC_API_KEY_ID": KEY_ID, "EXPORTSPEC_API_SECRET": SECRET}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in ("EXPORTSPEC_JOBS", "EXPORTSPEC_OUTPUT_ROOT", "EXPORTSPEC_RETRIES"):
        env.pop(name, None)
    command = [sys.executable, "-m", "exportspec", "run", str(specs), "--jobs", str(jobs),
               "--base-url", base, "--project-token", TOKEN, "--output-root", str(root),
               "-q"]  # fmt: skip
    counters.reset()
    log = root.parent / f"stderr-{jobs}.txt"
    with log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"--jobs {jobs}: exportspec exited {code}\n{tail}")
    outputs = sorted((root / "exports").glob("s*.csv"))
    if len(outputs) != args.specs:
        raise SystemExit(f"--jobs {jobs}: {len(outputs)} output files, {args.specs} expected")
    with counters.lock:
        times = counters.refusals
        events = sum(1 for i, t in enumerate(times) if i == 0 or t - times[i - 1] >= 0.5)
        span = (counters.last or 0.0) - (counters.first or 0.0)
        lead = (counters.first or started) - started
        return Run(
            jobs=jobs,
            wall=wall,
            ideal=args.specs * args.delay / min(jobs, args.limit),
            requests=counters.requests,
            refused=counters.refused,
            events=events,
            peak_serving=counters.peak_serving,
            peak_held=counters.peak_held,
            span=span,
            lead=lead,
            rss_mib=usage.ru_maxrss / 1024,
        )


def summary(runs: list[Run]) -> Run:
    """Median wall time and span; the largest counts, peaks and RSS."""
    return Run(
        jobs=runs[0].jobs,
        wall=statistics.median(run.wall for run in runs),
        ideal=runs[0].ideal,
        requests=max(run.requests for run in runs),
        refused=max(run.refused for run in runs),
        events=max(run.events for run in runs),
        peak_serving=max(run.peak_serving for run in runs),
        peak_held=max(run.peak_held for run in runs),
        span=statistics.median(run.span for run in runs),
        lead=statistics.median(run.lead for run in runs),
        rss_mib=max(run.rss_mib for run in runs),
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--limit", type=int, default=4, help="requests the server serves at once")
    parser.add_argument("--megabytes", type=int, default=1, help="size of each export")
    parser.add_argument("--jobs", default="1,4,8", help="comma-separated --jobs values")
    parser.add_argument("--rounds", type=int, default=3, help="runs per --jobs value")
    args = parser.parse_args()
    jobs_list = [int(n) for n in args.jobs.split(",")]

    work = Path(tempfile.mkdtemp(prefix="exportspec-batch-"))
    try:
        specs = work / "specs"
        write_specs(specs, args.specs)
        body = make_csv(args.megabytes)
        counters = Counters()
        server = serve(body, args.delay, args.limit, counters)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        python = sys.version.split()[0]
        print(
            f"# Python {python}, {os.cpu_count()} CPUs; {args.specs} specs, {len(body):,} bytes "
            f"each, {args.delay:g} s delay, server limit {args.limit} (429, Retry-After: 1)"
        )
        rounds: dict[int, list[Run]] = {jobs: [] for jobs in jobs_list}
        for round_ in range(args.rounds):
            for jobs in jobs_list:
                root = work / f"out-{jobs}-{round_}"
                root.mkdir()
                run = run_batch(jobs, specs, root, base, counters, args)
                rounds[jobs].append(run)
                shutil.rmtree(root)
                print(
                    f"# round {round_ + 1}, --jobs {jobs}: {run.wall:.2f} s, {run.requests} "
                    f"requests, {run.refused} 429s in {run.events} events",
                    flush=True,
                )
        print(
            "| --jobs | wall s | ideal s | wall/ideal | to 1st request s | server span s "
            "| span/ideal | requests "
            "| 429s (events) | requests/spec | peak served | peak held (429s incl.) "
            "| peak RSS MiB |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        runs = {jobs: summary(rounds[jobs]) for jobs in jobs_list}
        for jobs, run in runs.items():
            print(
                f"| {jobs} | {run.wall:.2f} | {run.ideal:.2f} | {run.wall / run.ideal:.2f} "
                f"| {run.lead:.2f} | {run.span:.2f} | {run.span / run.ideal:.2f} | {run.requests} "
                f"| {run.refused} ({run.events}) | {run.requests / args.specs:.2f} "
                f"| {run.peak_serving} | {run.peak_held} | {run.rss_mib:.1f} |"
            )
        server.shutdown()
        print()
        if 4 in runs:
            four = runs[4]
            ratio = four.wall / four.ideal
            print(f"--jobs 4 wall {four.wall:.2f} s = {ratio:.2f} x ideal (target <= 1.3): "
                  f"{verdict(ratio <= 1.3)}")  # fmt: skip
        if 8 in runs:
            eight = runs[8]
            ratio = eight.requests / args.specs
            print(f"--jobs 8 requests {eight.requests} = {ratio:.2f} x specs (target <= 1.2): "
                  f"{verdict(ratio <= 1.2)}")  # fmt: skip
            if 4 in runs:
                ratio = eight.wall / runs[4].wall
                print(f"--jobs 8 wall {eight.wall:.2f} s = {ratio:.2f} x --jobs 4 wall "
                      f"(target <= 2): {verdict(ratio <= 2)}")  # fmt: skip
        peak = max(run.rss_mib for run in runs.values())
        print(f"peak RSS {peak:.1f} MiB (target < {RSS_TARGET_MIB:g}): "
              f"{verdict(peak < RSS_TARGET_MIB)}")  # fmt: skip
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
