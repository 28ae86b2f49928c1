"""A local emulator of Bloomreach's customers-export endpoint, for offline runs, demos and tests.

Use it in-process::

    from exportspec.sandbox import running_sandbox

    with running_sandbox(customers=100, seed=1, fail=["429x1"]) as sandbox:
        requests.post(
            sandbox.export_url,
            auth=(sandbox.api_key_id, sandbox.api_secret),
            json={"format": "csv"},
        )

`running_sandbox` binds 127.0.0.1 on a free port, serves from a daemon thread and shuts
down cleanly (open connections closed, delayed responses woken) when the block exits.
The command line front end is `exportspec sandbox`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from exportspec.errors import UsageError
from exportspec.sandbox.datafile import DataFileError, load_data_file
from exportspec.sandbox.faults import FaultPlan, FaultSpecError
from exportspec.sandbox.model import Project
from exportspec.sandbox.server import DEFAULT_PORT, Credentials, SandboxHTTPServer, create_server
from exportspec.sandbox.synthetic import DEFAULT_CUSTOMERS, DEFAULT_SEED, synthetic_project

__all__ = [
    "DEFAULT_CUSTOMERS",
    "DEFAULT_PORT",
    "DEFAULT_SEED",
    "Credentials",
    "DataFileError",
    "Sandbox",
    "build_project",
    "describe_project",
    "parse_faults",
    "running_sandbox",
]


def build_project(
    *, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED, data: str | Path | None = None
) -> Project:
    """The synthetic project, or the one in a `--data` JSON Lines file (then `customers`
    and `seed` are ignored). Raises DataFileError (a ConfigError) for a bad file."""
    if data is not None:
        return load_data_file(Path(data))
    if customers < 0:
        raise UsageError(f"customers must be 0 or more, not {customers}")
    return synthetic_project(customers, seed)


def parse_faults(specs: Iterable[str]) -> FaultPlan:
    """A fault plan from `--fail` values; raises UsageError for one that does not parse."""
    try:
        return FaultPlan.parse(specs)
    except FaultSpecError as exc:
        raise UsageError(str(exc)) from exc


def describe_project(
    project: Project, credentials: Credentials, *, base_url: str | None = None
) -> dict[str, Any]:
    """The emulated project as JSON-ready data (what `exportspec sandbox --describe` prints)."""
    described: dict[str, Any] = {
        "project_token": credentials.project_token,
        "credentials": {
            "api_key_id": credentials.api_key_id,
            "api_secret": credentials.api_secret,
        },
    }
    if base_url is not None:
        described["base_url"] = base_url
        described["export_url"] = _export_url(base_url, credentials.project_token)
    described |= {
        "customers": project.customers,
        "seed": project.seed,
        "data_file": project.data_file,
        "ids": list(project.ids),
        "soft_ids": sorted(project.soft_ids),
        "properties": list(project.properties),
        "segmentations": [s.describe() for s in project.segmentations],
        "attributes": [a.describe() for a in project.attributes]
        + [c.describe() for c in project.consents],
    }
    return described


def _export_url(base_url: str, token: str) -> str:
    return f"{base_url}/data/v2/projects/{token}/customers/export"


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: where it listens and what it accepts."""

    base_url: str
    project_token: str
    api_key_id: str
    api_secret: str
    project: Project
    server: SandboxHTTPServer

    @property
    def export_url(self) -> str:
        """The full `.../customers/export` URL for the served project token."""
        return _export_url(self.base_url, self.project_token)

    @property
    def request_count(self) -> int:
        """How many requests reached the export endpoint so far (faulted ones included)."""
        return self.server.request_count

    def describe(self) -> dict[str, Any]:
        """The served project as JSON-ready data, with `base_url` and `export_url`."""
        credentials = Credentials(self.project_token, self.api_key_id, self.api_secret)
        return describe_project(self.project, credentials, base_url=self.base_url)


@contextmanager
def running_sandbox(
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    data: str | Path | None = None,
    fail: Iterable[str] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    project_token: str = "sandbox",
    api_key_id: str = "sandbox",
    api_secret: str = "sandbox",
    log: IO[str] | None = None,
) -> Iterator[Sandbox]:
    """Serve a sandbox from a background thread for the duration of the `with` block.

    `fail` takes `--fail` specs (see `exportspec.sandbox.faults`); `log` receives one line per
    request. Raises UsageError (bad fault spec, non-loopback host), ConfigError (bad data
    file, port in use).
    """
    project = build_project(customers=customers, seed=seed, data=data)
    credentials = Credentials(project_token, api_key_id, api_secret)
    server = create_server(
        project,
        host=host,
        port=port,
        credentials=credentials,
        faults=parse_faults(fail),
        log=log,
    )
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"exportspec-sandbox-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    try:
        yield Sandbox(
            base_url=server.base_url,
            project_token=project_token,
            api_key_id=api_key_id,
            api_secret=api_secret,
            project=project,
            server=server,
        )
    finally:
        server.stop()
        thread.join()
