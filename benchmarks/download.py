"""Download benchmark: `exportspec run` vs `curl -o FILE` on a loopback server.

A ThreadingHTTPServer answers the export POST with a static CSV sent by os.sendfile
(Content-Length set), at 100 MB and 1 GB. Each round runs curl and `exportspec run`
(sha256 and row counting are always on, and exportspec fsyncs its file, which curl does
not) as child processes, alternating which goes first, with os.sync() before each run;
wall time is measured around the child and peak RSS comes from os.wait4, both by a small
launcher that forks the child (see LAUNCHER). A first, uncounted round warms the page
cache: on this VM, writes into never-touched memory ran at about 300 MB/s for either
client, then 0.9-1.8 GB/s. The warm-up also leaves
exportspec's bytecode cached, as an installed package has it (PYTHONDONTWRITEBYTECODE is
dropped for the children). Outputs are deleted after each run, the CSVs at the end.

Besides the wall-time ratio per size, the last lines give the marginal figures: the
extra time each client needs for the extra bytes between the smallest and the largest
size, which leaves out fixed costs (exportspec's start-up: Python, imports, compiling the
spec). The target is exportspec's marginal throughput (>= 300 MB/s, sha256, row counting
and fsync on) and a peak RSS under 64 MiB that stays flat across sizes; the ratio to curl
is for information.

The S3 column (with `exportspec[s3]` and `moto[server]` installed; `--s3-rounds 0` skips
it): the same exports streamed by `exportspec run -o s3://...` into moto's S3-compatible
server on 127.0.0.1, run in this process (the launcher keeps this process's peak out of the
child's: the child's peak RSS is the client's alone), with 8 MiB parts. Target: client peak
RSS < 128 MiB and flat from 100 MB to 1 GB; the throughput is moto's as much as ours (a
Python server holding the object in memory).

    python benchmarks/download.py [--rounds 5] [--s3-rounds 2] [--sizes 100,1000]   # MB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

KEY_ID, SECRET = "bench", "bench-secret"
SPEC = "version: 1\nname: bench\nexport:\n  format: csv\n"


def make_csv(path: Path, megabytes: int) -> tuple[str, int]:
    """Write a CSV of about `megabytes` MB (quoted fields included); return sha256 and rows."""
    rows = []
    for i in range(9000):
        rows.append(
            f'user{i}@example.com,"[""c{i:08x}"",""d{i:08x}""]",Ann {i},"Smith, Jr.",'
            f"Bratislava,SK,{i * 1.5:.2f},{1_600_000_000 + i}\n"
        )
    block = "".join(rows).encode()
    header = b"registered,cookie,first_name,last_name,city,country,total_spent,registered_at\n"
    repeats = max(1, megabytes * 1_000_000 // len(block))
    digest = hashlib.sha256(header)
    with path.open("wb") as file:
        file.write(header)
        for _ in range(repeats):
            file.write(block)
            digest.update(block)
    return digest.hexdigest(), repeats * len(rows)


def serve(files: dict[str, Path]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = files[self.path.split("/")[4]]  # /data/v2/projects/{token}/customers/export
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            with path.open("rb") as file:
                sent = 0
                while sent < size:
                    sent += os.sendfile(self.connection.fileno(), file.fileno(), sent, size - sent)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


#: Runs the measured command as its own forked child and reports its wall time and rusage.
#: The benchmark does not spawn the command itself: on Linux a child's ru_maxrss starts at
#: the high-water RSS of the process it was spawned from (subprocess uses vfork, and exec
#: folds the old address space's peak into the child's maxrss; a plain fork copies the
#: parent's resident pages). This process grows (moto holds every uploaded object, then
#: frees it), so its peak showed up as the child's: /bin/true "peaked" at 1 GiB. The
#: launcher is a bare interpreter (about 10 MiB), below any client measured here.
LAUNCHER = """\
import os, sys, time
fd, command = int(sys.argv[1]), sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.close(fd)
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
os.write(fd, f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


def measure(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process, run by LAUNCHER."""
    os.sync()
    read, write = os.pipe()
    try:
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(write), *command]
        subprocess.run(launcher, env=env, cwd=cwd, pass_fds=(write,), check=True)
        os.close(write)
        write = -1
        with os.fdopen(read, "rb") as result:
            read = -1
            wall_text, maxrss_text, code_text = result.read().decode().split()
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)
    if int(code_text) != 0:
        raise SystemExit(f"{command[0]} failed with exit code {code_text}")
    return float(wall_text), int(maxrss_text) / 1024


def s3_column(
    sizes: list[int],
    files: dict[str, Path],
    base: str,
    env: dict[str, str],
    work: Path,
    rounds: int,
) -> None:
    """Each size streamed to a local S3-compatible server: seconds, MB/s, client peak RSS."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    store = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    store.start()
    host, port = store.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket="bench")
    env = {**env, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    print("\n| size | exportspec -> S3 s (median) | MB/s | client peak RSS |")
    print("|---|---|---|---|")
    peaks = []
    for size in sizes:
        token = f"s{size}"
        nbytes = files[token].stat().st_size
        target = f"s3://bench/{token}.csv"
        ours = [sys.executable, "-m", "exportspec", "run", "bench.yaml", "-o", target,
                "-q", "--base-url", base, "--project-token", token]  # fmt: skip
        times, rss = [], []
        for _ in range(rounds):
            wall, peak = measure(ours, env, work)
            times.append(wall)
            rss.append(peak)
            head = client.head_object(Bucket="bench", Key=f"{token}.csv")
            assert head["ContentLength"] == nbytes, "object size differs"
            client.delete_objects(Bucket="bench", Delete={"Objects": [
                {"Key": f"{token}.csv"}, {"Key": f"{token}.csv.run.json"}]})  # fmt: skip
        median = statistics.median(times)
        peaks.append(max(rss))
        print(f"| {nbytes / 1e6:,.0f} MB | {median:.2f} | {nbytes / 1e6 / median:,.0f} "
              f"| {max(rss):.1f} MiB |", flush=True)  # fmt: skip
    print(f"S3 client peak RSS {min(peaks):.1f}-{max(peaks):.1f} MiB across sizes "
          "(target < 128, flat)")  # fmt: skip
    store.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--s3-rounds", type=int, default=2)
    parser.add_argument("--sizes", default="100,1000", help="comma-separated sizes in MB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    work = Path(tempfile.mkdtemp(prefix="exportspec-bench-"))
    try:
        files, expected = {}, {}
        for size in sizes:
            files[f"s{size}"] = work / f"body-{size}.csv"
            expected[f"s{size}"] = make_csv(files[f"s{size}"], size)
        (work / "bench.yaml").write_text(SPEC)
        server = serve(files)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        env = {**os.environ, "EXPORTSPEC_API_KEY_ID": KEY_ID, "EXPORTSPEC_API_SECRET": SECRET}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        body = '{"format":"csv"}'
        curl_version = subprocess.run(
            ["curl", "--version"], capture_output=True, text=True, check=True
        ).stdout.split("\n")[0]
        python = sys.version.split()[0]
        print(f"# {curl_version.split(' (')[0]}, Python {python}, {os.cpu_count()} CPUs")
        print(
            "| size | curl s (median) | exportspec s (median) | ratio | curl MB/s "
            "| exportspec MB/s | curl peak RSS | exportspec peak RSS |"
        )
        print("|---|---|---|---|---|---|---|---|")
        medians: dict[int, tuple[float, float, int]] = {}
        peaks: dict[int, float] = {}
        for size in sizes:
            token = f"s{size}"
            url = f"{base}/data/v2/projects/{token}/customers/export"
            nbytes = files[token].stat().st_size
            curl = ["curl", "-sS", "--fail", "-o", "curl.csv", "-X", "POST", "-u",
                    f"{KEY_ID}:{SECRET}", "-H", "Content-Type: application/json",
                    "--data-binary", body, url]  # fmt: skip
            ours = [sys.executable, "-m", "exportspec", "run", "bench.yaml", "-o", "ours.csv",
                    "-q", "--base-url", base, "--project-token", token]  # fmt: skip
            times: dict[str, list[float]] = {"curl": [], "ours": []}
            rss: dict[str, list[float]] = {"curl": [], "ours": []}
            for round_ in range(-1, args.rounds):  # round -1 warms the page cache, uncounted
                order = [("curl", curl), ("ours", ours)]
                for name, command in order if round_ % 2 == 0 else order[::-1]:
                    wall, peak = measure(command, env, work)
                    if round_ >= 0:
                        times[name].append(wall)
                        rss[name].append(peak)
                record = json.loads((work / "ours.csv.run.json").read_text())
                sha256, rows = expected[token]
                assert record["output"]["sha256"] == sha256, "sha256 differs"
                assert record["output"]["rows"] == rows, "row count differs"
                assert (work / "curl.csv").stat().st_size == nbytes
                for leftover in ("curl.csv", "ours.csv", "ours.csv.run.json"):
                    (work / leftover).unlink()
            curl_s, ours_s = statistics.median(times["curl"]), statistics.median(times["ours"])
            medians[size] = (curl_s, ours_s, nbytes)
            peaks[size] = max(rss["ours"])
            print(
                f"| {nbytes / 1e6:,.0f} MB | {curl_s:.2f} | {ours_s:.2f} | {ours_s / curl_s:.2f} "
                f"| {nbytes / 1e6 / curl_s:,.0f} | {nbytes / 1e6 / ours_s:,.0f} "
                f"| {max(rss['curl']):.1f} MiB | {max(rss['ours']):.1f} MiB |",
                flush=True,
            )
        if len(medians) > 1:
            (curl_a, ours_a, bytes_a), (curl_b, ours_b, bytes_b) = (
                medians[min(sizes)],
                medians[max(sizes)],
            )
            extra = (bytes_b - bytes_a) / 1e6
            ours_rate = extra / (ours_b - ours_a)
            print(
                f"\nmarginal, {min(sizes)} MB -> {max(sizes)} MB: curl {curl_b - curl_a:.2f} s, "
                f"exportspec {ours_b - ours_a:.2f} s for {extra:,.0f} MB more: "
                f"exportspec {ours_rate:,.0f} MB/s (target >= 300), curl "
                f"{extra / (curl_b - curl_a):,.0f} MB/s, ratio "
                f"{(ours_b - ours_a) / (curl_b - curl_a):.2f} (information only)"
            )
            low, high = min(peaks.values()), max(peaks.values())
            print(f"exportspec peak RSS {low:.1f}-{high:.1f} MiB across sizes (target < 64, flat)")
        if args.s3_rounds > 0:
            s3_column(sizes, files, base, env, work, args.s3_rounds)
        server.shutdown()
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
