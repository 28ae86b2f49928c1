"""Benchmark: stream a big csv export from `exportspec sandbox` with curl.

For each customer count, it starts `python -m exportspec sandbox --port 0 --customers N` as a
child process, POSTs `{"format": "csv"}` with curl (`-o /dev/null`), and reports throughput
and the server's peak RSS (VmHWM from /proc/PID/status, read after the transfers).

Peer, measured in the same run: the very same bytes saved to a file and served as a static
file by `python -m http.server`, fetched by the same curl command. It is the ceiling of
"Python stdlib HTTP server + loopback + curl" on this machine, with no data generation, so
sandbox / peer says how much of that ceiling the generator leaves.

Usage:
    python benchmarks/sandbox.py                       # 100,000 and 5,000,000 customers
    python benchmarks/sandbox.py --customers 200000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_MB_S = 50.0
TARGET_RSS_MIB = 100.0
BODY = '{"format": "csv"}'


@dataclass
class Transfer:
    size: int
    seconds: float

    @property
    def mb_s(self) -> float:
        return self.size / self.seconds / 1e6


def curl(url: str, *, post: bool, output: str = "/dev/null") -> Transfer:
    """One transfer with curl; size and total time as curl reports them."""
    command = ["curl", "-sS", "--fail", "-o", output, "-w", "%{size_download} %{time_total}"]
    if post:
        command += [
            "-u",
            "sandbox:sandbox",
            "-H",
            "Content-Type: application/json",
            "--data",
            BODY,
        ]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    size, seconds = done.stdout.split()
    return Transfer(int(size), float(seconds))


def curl_version() -> str:
    done = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.split()[1]


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found, status
    return int(found[1]) / 1024


def rss_mib(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert found
    return int(found[1]) / 1024


def start_sandbox(customers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "exportspec", "sandbox", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--customers", str(customers)],
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if found:
            return process, found[1]
        if process.poll() is not None:
            raise SystemExit(f"sandbox exited early:\n{log.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise SystemExit("sandbox did not start within 20 s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_static_server(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("http.server did not start")


def stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    return process.wait(timeout=10)


def bench(customers: int, runs: int, workdir: Path) -> dict[str, float]:
    log = workdir / f"sandbox-{customers}.log"
    process, base_url = start_sandbox(customers, log)
    url = f"{base_url}/data/v2/projects/sandbox/customers/export"
    try:
        idle = rss_mib(process.pid)
        sandbox = [curl(url, post=True) for _ in range(runs)]
        # The same bytes once more, to a file, for the static peer.
        static_file = workdir / "export.csv"
        curl(url, post=True, output=str(static_file))
        peak = peak_rss_mib(process.pid)
    finally:
        exit_code = stop(process)
    sizes = {t.size for t in sandbox} | {static_file.stat().st_size}
    assert len(sizes) == 1, f"exports differ in size: {sizes}"
    peer_process, port = start_static_server(workdir)
    try:
        peer = [curl(f"http://127.0.0.1:{port}/export.csv", post=False) for _ in range(runs)]
    finally:
        stop(peer_process)
        static_file.unlink()
    sandbox_mb_s = statistics.median(t.mb_s for t in sandbox)
    peer_mb_s = statistics.median(t.mb_s for t in peer)
    return {
        "customers": customers,
        "bytes": sandbox[0].size,
        "seconds": statistics.median(t.seconds for t in sandbox),
        "sandbox_mb_s": sandbox_mb_s,
        "peer_mb_s": peer_mb_s,
        "vs_peer": sandbox_mb_s / peer_mb_s,
        "vs_target": sandbox_mb_s / TARGET_MB_S,
        "idle_rss_mib": idle,
        "peak_rss_mib": peak,
        "exit_code": exit_code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=3, help="transfers per size (median)")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is required")
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}, "
        f"curl {curl_version()}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="exportspec-bench-") as tmp:
        for customers in args.customers:
            result = bench(customers, args.runs, Path(tmp))
            results.append(result)
            print(f"# done {customers:,} customers", file=sys.stderr)
    print(
        "| customers | bytes | s | sandbox MB/s | peer MB/s (static file, http.server) "
        "| sandbox/peer | sandbox/target (50 MB/s) | idle RSS MiB | peak RSS MiB "
        "| peak/target (100 MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['customers']:,} | {r['bytes']:,} | {r['seconds']:.2f} | {r['sandbox_mb_s']:.1f} "
            f"| {r['peer_mb_s']:.1f} | {r['vs_peer']:.2f} | {r['vs_target']:.2f} "
            f"| {r['idle_rss_mib']:.1f} | {r['peak_rss_mib']:.1f} "
            f"| {r['peak_rss_mib'] / TARGET_RSS_MIB:.2f} |"
        )
    if len(results) > 1:
        flat = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
        print(
            f"\npeak RSS ratio, {results[-1]['customers']:,} vs {results[0]['customers']:,} "
            f"customers: {flat:.2f} (1.00 = flat)"
        )
    codes = {r["exit_code"] for r in results}
    print(f"sandbox exit code after SIGTERM: {sorted(codes)}")
    ok = all(
        r["sandbox_mb_s"] >= TARGET_MB_S and r["peak_rss_mib"] < TARGET_RSS_MIB for r in results
    )
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
