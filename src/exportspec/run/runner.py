"""Run one export: settings in, a result out. The CLI and the Python API both call `run`.

The output is opened before anything is sent (an unwritable path must not cost an
export), the request and its download are retried as one unit by `run.retry`, and the
output is committed only when the whole body arrived. The run record goes beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO
from urllib.parse import urlsplit

from exportspec.errors import ConfigError, ExportspecError, TransientError, UsageError
from exportspec.run import records
from exportspec.run.client import ExportClient
from exportspec.run.destinations import Location, ObjectSink, ObjectUrl, part_size
from exportspec.run.display import Progress, format_dry_run
from exportspec.run.download import Transfer, download
from exportspec.run.gate import Gate
from exportspec.run.models import ExportRequest, RunResult
from exportspec.run.output import Sink, open_sink
from exportspec.run.placement import is_stream, output_target
from exportspec.run.retry import Deadline, Retryable, RetryPolicy, with_retries
from exportspec.run.settings import (
    ENV_API_KEY_ID,
    ENV_API_SECRET,
    ENV_BASE_URL,
    ENV_PROJECT_TOKEN,
    ConnectionFlags,
    Settings,
    SettingsLayer,
    check_credentials,
    missing_token,
    resolve_settings,
)
from exportspec.spec.models import CompiledBody


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything one `run` or `rerun` needs, decided before anything is sent."""

    request: ExportRequest
    #: The export file or object; None for stdout.
    output: Location | None
    flags: ConnectionFlags = dataclasses.field(default_factory=ConnectionFlags)
    sandbox: bool = False
    dry_run: bool = False
    #: Where a replayed run record was sent (`rerun`): the settings must agree with it,
    #: unless `use_record_url`, `sandbox` or an explicit --base-url/--project-token.
    recorded: SettingsLayer | None = None
    use_record_url: bool = False
    #: Values below the environment variables (an exportspec.toml environment).
    project_defaults: SettingsLayer | None = None
    #: The output root, an absolute folder or an object-store URL
    #: (`gitops.project.output_root`): `output` is then a spec's `output.path`, relative to
    #: it, and must stay inside it. None: `output` is the user's own choice (-o, rerun's
    #: default beside the record), taken as given.
    output_root: str | None = None
    #: fsspec options for an object-store output (an environment's `storage_options`).
    storage_options: Mapping[str, object] = field(default_factory=dict)
    #: The files the run reads (spec, vars files, exportspec.toml, the lock; the replayed
    #: record): neither the output nor its run record may replace one.
    inputs: tuple[Location, ...] = ()
    #: A split export: parts sent at once (under a batch's gate, its bound), and whether
    #: to reuse the parts an earlier, failed run kept (`run --resume`).
    jobs: int = 2
    resume: bool = False


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What `run` did: a dry run's text, or an export's result and record."""

    dry_run_text: str | None = None
    result: RunResult | None = None
    record: Location | None = None


def default_output_path(compiled: CompiledBody) -> Path:
    """The spec's rendered `output.path`, else `exports/<name>.<csv|json>`: relative to the
    output root (`RunOptions.output_root`)."""
    if compiled.output_path:
        return Path(compiled.output_path)
    suffix = "csv" if compiled.format == "csv" else "json"
    return Path("exports") / f"{compiled.name}.{suffix}"


def run(
    options: RunOptions,
    *,
    messages: TextIO | None = None,
    stdout: BinaryIO | None = None,
    sleep: Callable[[float], None] | None = None,
    gate: Gate | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Send the request and stream the export to its output, or describe it (dry run).

    `messages` receives notes and progress (None: silent), unless a `progress` of the
    caller's (a batch's display) takes them; `stdout` takes an export whose output is
    None. Raises the errors of `errors` with their exit codes; on any failure, Ctrl-C
    included, no partial output remains and an older one is untouched.
    """
    target = output_target(options)
    with _settings(options, messages) as settings:
        if options.dry_run:
            text = "".join(
                format_dry_run(one, settings, target, sandbox=options.sandbox)
                for one in _sent(options.request)
            )
            return RunOutcome(dry_run_text=text)
        # A record needs a file to sit beside: not for stdout, /dev/null or a named pipe.
        wants_record = target is not None and not is_stream(target)
        if target is not None and wants_record:
            records.check_record_path(target)  # before the export, not after it
        if progress is None:
            progress = Progress(messages, live=messages is not None and messages.isatty())
        send = export if not options.request.parts else _split(options)
        result = send(
            options.request,
            settings,
            target,
            progress=progress,
            stdout=stdout,
            sleep=sleep,
            record=wants_record,
            gate=gate,
            storage_options=options.storage_options,
        )
    record = records.record_path_for(target) if target is not None and wants_record else None
    return RunOutcome(result=result, record=record)


def _sent(request: ExportRequest) -> list[ExportRequest]:
    """The requests a run sends: the one body, or each part's."""
    if not request.parts:
        return [request]
    return [
        dataclasses.replace(request, body=p.body, body_sha256=p.body_sha256, parts=())
        for p in request.parts
    ]


def _split(options: RunOptions) -> Callable[..., RunResult]:
    """`export` for a split request: its parts, then one assembled output."""
    from exportspec.run.split import export_split

    return functools.partial(export_split, jobs=options.jobs, resume=options.resume)


def export(
    request: ExportRequest,
    settings: Settings,
    output: Location | None,
    *,
    progress: Progress | None = None,
    stdout: BinaryIO | None = None,
    sleep: Callable[[float], None] | None = None,
    record: bool = False,
    gate: Gate | None = None,
    storage_options: Mapping[str, object] | None = None,
) -> RunResult:
    """Send the body, stream the response to `output` (None: `stdout`), return what happened.

    With `record`, the run record is written beside the output before the output is
    released, so a concurrent run of the same output cannot commit in between. Raises
    RefusedError (not retried), TransientError (attempts or deadline exhausted),
    ConfigError (the output cannot be written, the settings will never work).

    With a `gate` (a batch), each attempt holds one of its slots while it sends and
    downloads, and the retry loop waits in `gate.sleep` unless `sleep` is given. An
    object-store `output` is uploaded with `storage_options`; its upload begins here, before
    the request is sent, so an unwritable destination costs no export.
    """
    progress = progress or Progress(None)
    started = dt.datetime.now(dt.UTC)
    deadline = Deadline(settings.deadline)
    policy = RetryPolicy(settings.retries + 1, settings.backoff_factor, settings.retry_after_max)
    url = settings.export_url
    made = 0
    options = storage_options or {}
    sink = open_output(output, stdout, options)
    try:
        with ExportClient(settings, deadline) as client:

            def attempt(number: int) -> tuple[int, Transfer]:
                if gate is None:
                    return one_attempt(number)
                ticket = gate.acquire(deadline)
                try:
                    answer = one_attempt(number)
                except Retryable as exc:
                    gate.release(status=exc.status, retry_after=exc.retry_after, ticket=ticket)
                    raise
                except BaseException:
                    gate.release(ticket=ticket)
                    raise
                gate.release(status=answer[0], ticket=ticket)
                return answer

            def update(size: int, rows: int) -> None:
                if gate is not None:
                    gate.check()  # a stopping batch ends its downloads between chunks
                progress.update(size, rows)

            def one_attempt(number: int) -> tuple[int, Transfer]:
                nonlocal made
                made = number
                try:
                    with client.send(url, request.body) as response:
                        transfer = download(
                            response.chunks(),
                            sink,
                            request.export_format,
                            status=response.status,
                            refuse=client.success_false,
                            max_bytes=settings.max_bytes,
                            progress=update if gate is not None else progress.update,
                        )
                    return response.status, transfer
                except Retryable as exc:
                    progress.done()
                    exc.reason = client.scrub(exc.reason)
                    exc.args = (exc.reason,)  # --traceback shows args: masked there too
                    _restart(sink, number, exc)
                    raise

            if sleep is None and gate is not None:
                sleep = gate.sleep
            status, transfer = with_retries(
                attempt, policy, deadline, notify=progress.note, sleep=sleep
            )
        sink.commit()
    except BaseException as exc:
        sink.discard()
        if isinstance(exc, ExportspecError):
            exc.attempts = made  # a batch record says how many requests a failure cost
        raise
    finally:
        progress.done()
    try:
        result = RunResult(
            request=request,
            url=url,
            base_url=settings.base_url,
            project_token=settings.project_token,
            output_path=output,
            status=status,
            attempts=made,
            started_at=started,
            finished_at=dt.datetime.now(dt.UTC),
            size=transfer.size,
            sha256=transfer.sha256,
            rows=transfer.rows,
            version_id=sink.version_id if isinstance(sink, ObjectSink) else None,
        )
        if record:
            try:
                records.write_run_record(result, options)
            except ConfigError as exc:
                raise ConfigError(
                    f"the export is complete in {output}, but its run record is not: {exc}"
                ) from None
    finally:
        sink.close()
    return result


def open_output(
    output: Location | None, stdout: BinaryIO | None, storage_options: Mapping[str, object]
) -> Sink:
    """The sink of an export: a file, stdout, or an object (its upload begun here)."""
    if isinstance(output, ObjectUrl):
        return ObjectSink(output, storage_options, part_size())
    return open_sink(output, stdout)


def _restart(sink: Sink, attempts: int, failure: Retryable) -> None:
    """Make `sink` ready for another attempt, or end the run when it cannot start over."""
    if not sink.restartable:
        raise TransientError(
            f"the export failed after {attempts} attempt(s) (a stream output cannot be "
            f"rewound); the last one: {failure.reason}"
        )
    sink.restart()


def _check_record_target(recorded: SettingsLayer, settings: Settings) -> None:
    """Refuse to send a run record's body, and the credentials, elsewhere than the record
    went without being told: an edited record must not choose where credentials go."""
    url = str(recorded.values.get("base_url") or "")
    token = recorded.values.get("project_token")
    now = urlsplit(settings.base_url)
    try:
        then = urlsplit(url)
        same_place = (then.scheme, then.hostname, then.port) == (now.scheme, now.hostname, now.port)
    except ValueError:  # an invalid port: not a place the settings can name
        same_place = False
    if same_place and token is not None and token == settings.project_token:
        return
    what = "base URL" if not same_place else "project token"
    told = settings.project_token or "none"
    raise ConfigError(
        f"{recorded.label} was sent to {url} with project token {token or 'none'}; the current "
        f"settings say {settings.base_url} with project token {told}: the {what} differs\n"
        "hint: add --use-record-url to send it where the record says, or choose with "
        "--base-url/--project-token (or --sandbox for a record made with --sandbox)"
    )


@contextlib.contextmanager
def _settings(options: RunOptions, messages: TextIO | None) -> Iterator[Settings]:
    """Settings from flags and environment, or from a sandbox started for this block."""
    flags = options.flags
    if not options.sandbox:
        recorded = options.recorded
        explicit = flags.base_url is not None or flags.project_token is not None
        pinned = recorded if recorded is not None and (options.use_record_url or explicit) else None
        settings = resolve_settings(
            flags,
            pinned=pinned,
            project_defaults=options.project_defaults,
            require_token=False,
            require_credentials=False,
        )
        if recorded is not None and pinned is None:  # said first: it may point at --sandbox
            _check_record_target(recorded, settings)
        if not options.dry_run:
            check_credentials(settings.api_key_id, settings.api_secret)
            if settings.project_token is None:
                raise missing_token()
        yield settings
        return
    if flags.base_url is not None or flags.project_token is not None:
        raise UsageError("--sandbox picks its own URL and token; drop --base-url/--project-token")
    from exportspec.sandbox import DEFAULT_PORT, Credentials, running_sandbox

    ignored = {ENV_BASE_URL, ENV_PROJECT_TOKEN, ENV_API_KEY_ID, ENV_API_SECRET}
    environ: Mapping[str, str] = {k: v for k, v in os.environ.items() if k not in ignored}
    if options.dry_run:
        # Nothing is sent, so nothing is started: describe the request to a sandbox the
        # user starts with `exportspec sandbox` (its default port and credentials).
        known = Credentials()
        yield resolve_settings(
            dataclasses.replace(
                flags,
                base_url=f"http://127.0.0.1:{DEFAULT_PORT}",
                project_token=known.project_token,
            ),
            environ=environ,
            credentials=(known.api_key_id, known.api_secret),
        )
        return
    with running_sandbox() as running:
        if messages is not None:
            with contextlib.suppress(OSError, ValueError):
                messages.write(f"exportspec: sandbox serving {running.base_url}\n")
        sandbox_flags = dataclasses.replace(
            flags, base_url=running.base_url, project_token=running.project_token
        )
        yield resolve_settings(
            sandbox_flags,
            environ=environ,
            credentials=(running.api_key_id, running.api_secret),
        )
