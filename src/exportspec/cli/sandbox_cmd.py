"""`exportspec sandbox`: serve the local emulator of the customers-export endpoint."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click

from exportspec.cli.boundary import STOPPING, writing_stdout

FAIL_HELP = """\b
Fault injection, --fail SPEC (repeatable; specs run one after another, then all is
normal; COUNT defaults to 1):
  SPEC = KIND[=SECONDS][xCOUNT][:ra=SECONDS|at=start|at=body]
  429x2        next 2 requests get HTTP 429 with Retry-After: 1 (429x2:ra=0 sends 0)
  500 502 503 504   that status; add :ra=N for a Retry-After header
  success-false     HTTP 200 with {"success": false, "error": ...}
  truncate     promise the whole body, close after the first half of its bytes
  reset        send part of the body, then reset the connection (TCP RST)
  slow=SECONDS wait before answering (:at=body waits after the first body chunk)
Status faults answer before authentication; truncate, reset and slow apply to
whatever response the request gets.
"""

DATA_HELP = """\b
--data FILE is JSON Lines: an optional first line of definitions, then one customer
per line:
  {"segmentations": [{"id": "seg1", "name": "Spend", "segments": [
      {"name": "Big", "where": {"total_spent": {">=": 100}}}]}],
   "attributes": [{"type": "aggregate", "id": "agg1", "name": "orders"}]}
  {"ids": {"registered": "ann@example.com", "cookie": ["c1"]},
   "properties": {"total_spent": 120.5}, "attributes": {"agg1": 3}}
A customer is in the first segment whose "where" holds (all comparisons), else in
segment -1. Operators: == != < <= > >= in exists. An operand is a property name or
days_since:PROPERTY (calendar days from that Unix-seconds property to execution_time,
in the request's timezone).
"""


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """The normalised command-line options."""

    host: str
    port: int
    allow_remote: bool
    customers: int
    seed: int
    data: Path | None
    fail: tuple[str, ...]
    describe: bool


def _check_fail(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    from exportspec.sandbox.faults import FaultSpecError, parse_fault

    for spec in value:
        try:
            parse_fault(spec)
        except FaultSpecError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


@click.command(epilog=FAIL_HELP + "\n" + DATA_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,  # exportspec.sandbox.DEFAULT_PORT, without importing the server for --help
    show_default=True,
    help="Port to listen on; 0 picks a free one (the banner says which).",
)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option(
    "--customers",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Number of synthetic customers (generated on the fly; millions are fine).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Synthetic data seed.")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve the customers and segmentations in this JSON Lines file instead.",
)
@click.option(
    "--fail", multiple=True, metavar="SPEC", callback=_check_fail, help="Inject a fault (below)."
)
@click.option("--describe", is_flag=True, help="Print the emulated project as JSON and exit.")
def sandbox(
    host: str,
    port: int,
    allow_remote: bool,
    customers: int,
    seed: int,
    data: Path | None,
    fail: tuple[str, ...],
    describe: bool,
) -> None:
    """Serve a local emulator of POST /data/v2/projects/{token}/customers/export.

    Project token, API key ID and secret are all `sandbox`. The synthetic customers
    are deterministic: the same --seed and --customers give the same bytes. Logs one
    line per request on stderr. Stop it with Ctrl-C (or SIGTERM): it shuts down
    cleanly and exits 0.
    """
    execute(SandboxSettings(host, port, allow_remote, customers, seed, data, fail, describe))


def execute(settings: SandboxSettings) -> None:
    """Describe the project, or serve it until interrupted."""
    from exportspec.sandbox import Credentials, build_project, describe_project, parse_faults
    from exportspec.sandbox.server import create_server

    project = build_project(customers=settings.customers, seed=settings.seed, data=settings.data)
    if settings.describe:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        base_url = f"http://{host}:{settings.port}" if settings.port else None
        with writing_stdout():
            click.echo(
                json.dumps(describe_project(project, Credentials(), base_url=base_url), indent=2)
            )
        return
    server = create_server(
        project,
        host=settings.host,
        port=settings.port,
        faults=parse_faults(settings.fail),
        log=sys.stderr,
        allow_remote=settings.allow_remote,
    )
    source = f"{settings.data}" if settings.data else f"synthetic, seed {settings.seed}"
    click.echo(
        f"exportspec sandbox: {project.customers} customers ({source}) at {server.base_url}\n"
        f"  export URL:  {server.base_url}/data/v2/projects/sandbox/customers/export\n"
        '  credentials: project token "sandbox", API key ID "sandbox", API secret "sandbox"\n'
        "  Ctrl-C stops it.",
        err=True,
    )
    for signum in STOPPING:  # SIGTERM, SIGHUP, SIGQUIT: a server's usual ends, exit 0
        signal.signal(signum, _interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM is how a server is meant to end: exit 0.
    finally:
        server.stop()
    click.echo("exportspec sandbox: stopped.", err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
