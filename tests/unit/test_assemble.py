"""Assembling a split export's parts: one header, every row in order, or a refusal."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from exportspec.errors import RefusedError
from exportspec.run.assemble import assemble

CASES = yaml.safe_load((Path(__file__).parent / "data/assemble/cases.yaml").read_text("utf-8"))


class Collect:
    """A sink that keeps what it is given."""

    restartable = True

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def restart(self) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_parts_assemble_into_one_export(case: dict[str, Any], tmp_path: Path) -> None:
    files = []
    for segment, text in case["parts"].items():
        path = tmp_path / f"segment{segment}"
        path.write_bytes(text.encode("utf-8"))
        files.append((int(segment), path))
    sink = Collect()
    if "refused" in case:
        with pytest.raises(RefusedError, match="no output was written") as caught:
            assemble(files, case["format"], sink)
        assert case["refused"] in str(caught.value)
        assert sink.data == b""
        return
    assembled = assemble(files, case["format"], sink)
    expected = case["expected"].encode("utf-8")
    assert bytes(sink.data) == expected
    assert assembled.size == len(expected)
    assert assembled.sha256 == hashlib.sha256(expected).hexdigest()
