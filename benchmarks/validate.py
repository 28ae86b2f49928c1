"""Benchmark: `exportspec validate` against check-jsonschema on 2,000 generated specs.

Run:  python benchmarks/validate.py [--specs 2000] [--rounds 5]

Both tools run as fresh processes over the same files, in the same run, on this machine;
the figure per command is the median wall time of the rounds. The peer,
`check-jsonschema --schemafile schemas/spec.schema.json`, parses and validates against the
same schemas (it renders nothing and reports no positions). Targets: validate ratio <= 0.5,
start-up (`--version`) ratio <= 0.3. A third set of 2,000 specs uses variables and
templates (exportspec only: the peer cannot render them).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "spec.schema.json"
ZONES = ["UTC", "Europe/Bratislava", "Europe/London", "America/New_York", "Asia/Tokyo"]
KINDS = ["id", "property", "segmentation", "aggregate", "expression", "prediction"]


def _body(rng: random.Random) -> dict[str, object]:
    body: dict[str, object] = {"format": rng.choice(["csv", "table_json"])}
    if rng.random() < 0.8:
        items = []
        for _ in range(rng.randint(1, 8)):
            kind = rng.choice(KINDS)
            key = "property" if kind == "property" else "id"
            items.append({"type": kind, key: f"{kind}_{rng.randint(0, 10**6)}"})
        body["attributes"] = {"type": "some", "list": items}
    if rng.random() < 0.6:
        body["filter"] = {
            "type": "segment",
            "segmentation_id": f"{rng.getrandbits(96):024x}",
            "segment_index": rng.randint(-1, 5),
        }
    if rng.random() < 0.5:
        body["timezone"] = rng.choice(ZONES)
    if rng.random() < 0.5:
        body["execution_time"] = rng.randint(1_600_000_000, 1_800_000_000)
    return body


def _yaml(spec: dict[str, object], indent: int = 0) -> str:
    """A small YAML emitter (block style), so the benchmark needs no YAML writer."""
    pad = "  " * indent
    lines = []
    for key, value in spec.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:\n{_yaml(value, indent + 1)}")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            lines += [f"{pad}  - {json.dumps(item)}" for item in value]
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines)


def _toml(spec: dict[str, object]) -> str:
    out, tables = [], []
    for key, value in spec.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            out.append(f"{key} = {json.dumps(value)}")
    for key, table in tables:
        out.append(f"\n[{key}]")
        for k, v in table.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{ik} = {_toml_value(iv)}" for ik, iv in v.items())
                out.append(f"{k} = {{ {inner} }}")
            else:
                out.append(f"{k} = {_toml_value(v)}")
    return "\n".join(out) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def generate(folder: Path, count: int, *, templated: bool, seed: int) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    files = []
    for i in range(count):
        spec: dict[str, object] = {
            "version": 1,
            "name": f"spec-{i:05d}",
            "description": f"Generated spec {i}",
            "export": _body(rng),
        }
        if templated:
            spec["vars"] = {
                "as_of": {"type": "string", "default": "2026-01-01T00:00:00Z"},
                "zone": {"type": "string", "default": rng.choice(ZONES)},
                "segment": {"type": "integer", "minimum": -1, "default": rng.randint(-1, 3)},
            }
            export = spec["export"]
            assert isinstance(export, dict)
            export["timezone"] = "{{ zone }}"
            export["execution_time"] = "{{ as_of | timestamp }}"
            export["filter"] = {
                "type": "segment",
                "segmentation_id": "abc",
                "segment_index": "{{ segment }}",
            }
        path = folder / (f"s{i:05d}.toml" if i % 4 == 3 else f"s{i:05d}.yaml")
        path.write_text(_toml(spec) if path.suffix == ".toml" else _yaml(spec) + "\n")
        files.append(path)
    return files


def median_seconds(command: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{command[:3]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    exportspec = shutil.which("exportspec")
    peer = shutil.which("check-jsonschema")
    if not exportspec or not peer:
        raise SystemExit(
            "needs `exportspec` and `check-jsonschema` on PATH (pip install check-jsonschema)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        plain = generate(Path(tmp) / "plain", args.specs, templated=False, seed=1)
        generate(Path(tmp) / "templated", args.specs, templated=True, seed=2)
        ours = median_seconds([exportspec, "validate", str(Path(tmp) / "plain")], args.rounds)
        theirs = median_seconds([peer, "--schemafile", str(SCHEMA), *map(str, plain)], args.rounds)
        templated = median_seconds(
            [exportspec, "validate", str(Path(tmp) / "templated")], args.rounds
        )
    start_ours = median_seconds([exportspec, "--version"], args.rounds * 3)
    start_theirs = median_seconds([peer, "--version"], args.rounds * 3)
    print(f"python {sys.version.split()[0]}, {args.specs} specs, median of {args.rounds} rounds")
    ms = 1e3 / args.specs
    print(f"exportspec validate (no templates)   {ours:7.3f} s  ({ours * ms:.3f} ms/spec)")
    print(f"check-jsonschema --schemafile        {theirs:7.3f} s  ({theirs * ms:.3f} ms/spec)")
    print(f"  validate ratio exportspec/peer     {ours / theirs:7.2f}   (target <= 0.5)")
    print(
        f"exportspec validate (templated)      {templated:7.3f} s  ({templated * ms:.3f} ms/spec)"
    )
    print(f"exportspec --version                 {start_ours * 1e3:7.1f} ms")
    print(f"check-jsonschema --version           {start_theirs * 1e3:7.1f} ms")
    print(
        f"  start-up ratio exportspec/peer     {start_ours / start_theirs:7.2f}   (target <= 0.3)"
    )


if __name__ == "__main__":
    main()
