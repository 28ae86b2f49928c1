"""Run a split export: one request per segment, then one assembled output.

The parts are sent on up to `jobs` threads (`run.workers`) under one `Gate` (a batch's,
else our own), each with the usual retries, into files in a hidden resume folder beside the
output, `.NAME.parts/`. Only when every part succeeded are they assembled into the output (through
its sink: atomically, or not at all) and the folder removed. When a part fails, the
whole run fails and no output appears; the parts that succeeded stay in the folder, listed
in its `resume.json`, so `run --resume FOLDER/resume.json` (or a resumed batch) re-sends only
the failed ones. A fresh run first removes the folder: a kept part is reused only by a resume,
and only when its body is byte for byte the one it would send.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from exportspec.errors import ExportspecError, SpecInvalidError
from exportspec.run.assemble import assemble
from exportspec.run.destinations import Location
from exportspec.run.display import Progress
from exportspec.run.gate import Gate, Stopping
from exportspec.run.models import ExportRequest, PartRequest, PartResult, RunResult
from exportspec.run.output import is_special_file, write_file
from exportspec.run.settings import Settings
from exportspec.run.workers import run_on_threads

PARTS_SUFFIX = ".parts"
STATE_NAME = "resume.json"
STATE_VERSION = 1


def parts_folder(output: Path) -> Path:
    """`exports/x.csv` -> `exports/.x.csv.parts`: where a split run keeps its parts."""
    return output.with_name(f".{output.name}{PARTS_SUFFIX}")


def is_resume_state(data: object) -> bool:
    """Whether a document given to `--resume` is a split run's `resume.json`."""
    return isinstance(data, dict) and "split_resume_version" in data


def export_split(
    request: ExportRequest,
    settings: Settings,
    output: Location | None,
    *,
    jobs: int,
    resume: bool,
    progress: Progress | None = None,
    stdout: BinaryIO | None = None,
    sleep: Callable[[float], None] | None = None,
    record: bool = False,
    gate: Gate | None = None,
    storage_options: Mapping[str, object] | None = None,
) -> RunResult:
    """Send every part of `request`, assemble them into `output` (None: `stdout`), return
    what happened; raises the most severe part's error, naming its segment."""
    from exportspec.run import records
    from exportspec.run.runner import export, open_output

    progress = progress or Progress(None)
    started = dt.datetime.now(dt.UTC)
    with _work_folder(output, resume) as folder:
        kept = _kept_parts(folder, request) if resume else {}
        done: dict[int, PartResult] = dict(kept)
        lock = threading.Lock()
        shared = gate or Gate(jobs)

        def send(part: PartRequest) -> PartResult:
            one = dataclasses.replace(
                request, body=part.body, body_sha256=part.body_sha256, parts=()
            )
            result = export(
                one, settings, _part_file(folder, part.segment, request), sleep=sleep, gate=shared
            )
            return PartResult(
                part.segment,
                part.body_sha256,
                result.attempts,
                result.rows,
                result.size,
                result.sha256,
            )

        pending = [part for part in request.parts if part.segment not in done]
        failures: list[tuple[int, ExportspecError]] = []
        unexpected: list[BaseException] = []

        def work(part: PartRequest) -> None:
            try:
                result = send(part)
            except ExportspecError as exc:
                with lock:
                    failures.append((part.segment, exc))
                progress.note(f"part for segment {part.segment} failed: {exc}")
            except Stopping:
                pass  # the run (or its batch) is stopping: the caller says why
            except Exception as exc:  # a bug: the part fails, the run reports it
                with lock:
                    unexpected.append(exc)
            else:
                with lock:
                    done[part.segment] = result
                    _save_state(folder, request, output, done)

        run_on_threads(pending, jobs, work, on_stop=shared.stop)
        if unexpected:
            raise unexpected[0]
        if shared.stopped:
            raise Stopping("the batch is stopping")
        if failures:
            keeps = isinstance(output, Path) and not is_special_file(output)
            kept_in = folder if keeps else None
            raise _failed(failures, len(request.parts), kept_in)
        ordered = [done[part.segment] for part in request.parts]
        files = [(p.segment, _part_file(folder, p.segment, request)) for p in ordered]
        sink = open_output(output, stdout, storage_options or {})
        try:
            assembled = assemble(files, request.export_format, sink)
            sink.commit()
        except BaseException:
            sink.discard()
            raise
        try:
            result = RunResult(
                request=request,
                url=settings.export_url,
                base_url=settings.base_url,
                project_token=settings.project_token,
                output_path=output,
                status=200,
                attempts=sum(p.attempts for p in ordered if p.segment not in kept),
                started_at=started,
                finished_at=dt.datetime.now(dt.UTC),
                size=assembled.size,
                sha256=assembled.sha256,
                rows=assembled.rows,
                parts=tuple(ordered),
            )
            if record:
                records.write_run_record(result, storage_options)
        finally:
            sink.close()
    return result


@contextlib.contextmanager
def _work_folder(output: Location | None, resume: bool) -> Iterator[Path]:
    """The resume folder beside a file output (emptied unless resuming, removed once the
    output is written); a temporary folder for stdout, a special file or an object (no
    resume: the parts are not kept in the store)."""
    if not isinstance(output, Path) or is_special_file(output):
        with tempfile.TemporaryDirectory(prefix="exportspec-parts-") as name:
            yield Path(name)
        return
    folder = parts_folder(output)
    if not resume and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    yield folder  # kept when a part failed: that is what --resume reads
    shutil.rmtree(folder, ignore_errors=True)


def _part_file(folder: Path, segment: int, request: ExportRequest) -> Path:
    suffix = "csv" if request.export_format == "csv" else "json"
    return folder / f"segment_{segment}.{suffix}"  # segment_-1, never read as "segment 1"


def _save_state(
    folder: Path, request: ExportRequest, output: Location | None, done: Mapping[int, PartResult]
) -> None:
    """`resume.json`: the run to resume and its parts that succeeded (their files beside)."""
    state = {
        "split_resume_version": STATE_VERSION,
        "spec": request.spec_path,
        "now": request.now,
        "output": None if output is None else output.as_posix(),
        "parts": [dataclasses.asdict(done[segment]) for segment in sorted(done)],
    }
    write_file(folder / STATE_NAME, (json.dumps(state, indent=2) + "\n").encode())


def load_resume_state(path: Path) -> Mapping[str, Any]:
    """A `resume.json` for `run --resume` (exit 1 when it is not one)."""
    from exportspec.spec.models import Diagnostic

    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SpecInvalidError([Diagnostic(str(path), f"not a resume file: {exc}")]) from None
    if not is_resume_state(data) or not isinstance(data.get("spec"), str):
        raise SpecInvalidError([Diagnostic(str(path), "not a split run's resume.json")])
    state: Mapping[str, Any] = data
    return state


def _kept_parts(folder: Path, request: ExportRequest) -> dict[int, PartResult]:
    """The parts of an earlier run to reuse: listed in `resume.json`, the very body this run
    would send, and a file whose bytes still have the recorded sha256."""
    try:
        state = json.loads((folder / STATE_NAME).read_bytes())
        listed = [PartResult(**entry) for entry in state["parts"]]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    wanted = {part.segment: part.body_sha256 for part in request.parts}
    kept: dict[int, PartResult] = {}
    for part in listed:
        file = _part_file(folder, part.segment, request)
        if wanted.get(part.segment) == part.body_sha256 and _sha256(file) == part.sha256:
            kept[part.segment] = part
    return kept


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _failed(
    failures: list[tuple[int, ExportspecError]], total: int, folder: Path | None
) -> ExportspecError:
    """The most severe part's error, saying which segment failed and how to resume."""
    from exportspec.run.batch import most_severe

    code = most_severe([int(exc.exit_code) for _, exc in failures])
    segment, worst = next((s, e) for s, e in failures if int(e.exit_code) == code)
    segments = ", ".join(str(s) for s, _ in sorted(failures))
    message = (
        f"{len(failures)} of {total} parts failed (segment {segments}), so no output was "
        f"written; segment {segment}: {worst.message or worst}"
    )
    if folder is not None and (folder / STATE_NAME).exists():
        message += (
            f"\nhint: the parts that succeeded are kept in {folder}; "
            f"`exportspec run --resume {folder / STATE_NAME}` sends only the failed ones"
        )
    if isinstance(worst, SpecInvalidError):
        return worst
    error = type(worst)(message, worst.diagnostics)
    error.exit_code = worst.exit_code
    return error
