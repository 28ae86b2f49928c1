"""docs/orchestrators.md: its examples are valid Python, and what they use of exportspec.api
exists (names, keyword arguments, and the attributes of the results)."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exportspec import api

PAGE = Path(__file__).parent.parent.parent / "docs" / "orchestrators.md"
#: What each function of the API returns, for the attributes read from its result.
RETURNS: dict[str, type] = {
    "compile_spec": api.CompiledSpec,
    "run_spec": api.RunResult,
    "run_specs": api.BatchResult,
    "apply": api.BatchResult,
}
#: Results of results: a batch's per-spec outcomes.
NESTED: tuple[type, ...] = (api.SpecOutcome,)


def _examples() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.M | re.S)


def _imported(tree: ast.Module) -> dict[str, str]:
    """Local name -> name in exportspec.api, for `from exportspec.api import ...`."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "exportspec.api":
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            assert all(alias.name != "exportspec.api" for alias in node.names), (
                "the examples import names from exportspec.api"
            )
    return names


def _problems(source: str) -> list[str]:
    tree = ast.parse(source)
    imported = _imported(tree)
    problems = [
        f"exportspec.api has no {name!r}" for name in imported.values() if not hasattr(api, name)
    ]
    results: dict[str, type] = {}  # variable -> the class of the API result it holds
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        name = imported.get(node.func.id)
        if name not in RETURNS:
            continue
        function: Callable[..., Any] = getattr(api, name)
        parameters = inspect.signature(function).parameters
        problems += [
            f"{name}() has no argument {k.arg!r}"
            for k in node.keywords
            if k.arg is not None and k.arg not in parameters
        ]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and imported.get(node.value.func.id) in RETURNS
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    results[target.id] = RETURNS[imported[node.value.func.id]]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in results
        ):
            kind = results[node.value.id]
            if not hasattr(kind, node.attr):
                problems.append(f"{kind.__name__} has no {node.attr!r}")
    return problems


def test_the_page_has_an_airflow_task_and_a_dagster_asset() -> None:
    examples = _examples()
    assert any("from airflow" in e and "@task" in e for e in examples)
    assert any("import dagster" in e and "@dg.asset" in e for e in examples)
    assert all("from exportspec.api import" in e for e in examples)


@pytest.mark.parametrize("index", range(len(_examples())))
def test_every_example_is_valid_python_using_what_exists(index: int) -> None:
    source = _examples()[index]
    assert not _problems(source), _problems(source)


def test_the_checker_finds_what_does_not_exist() -> None:
    source = (
        "from exportspec.api import run_spec, run_everything\n"
        "result = run_spec('x.yaml', outputs='y')\n"
        "print(result.row_count)\n"
    )
    assert _problems(source) == [
        "exportspec.api has no 'run_everything'",
        "run_spec() has no argument 'outputs'",
        "RunResult has no 'row_count'",
    ]


def test_every_name_the_page_mentions_in_code_exists() -> None:
    """Attributes the prose names (`.rows`) exist on a result; names in backticks that
    look like API names exist in exportspec.api."""
    prose = re.sub(r"^```.*?^```", "", PAGE.read_text(), flags=re.M | re.S)
    for attribute in re.findall(r"`\.(\w+)`", prose):
        kinds = (*RETURNS.values(), *NESTED)
        assert any(hasattr(kind, attribute) for kind in kinds) or hasattr(
            api.ExportspecError("x"), attribute
        ), attribute
    for name in re.findall(r"`([A-Z]\w+(?:Error|Spec|Result|Outcome))`", prose):
        assert hasattr(api, name), name
    for name in re.findall(r"`(\w+)\(", prose):
        assert hasattr(api, name), name
