"""`exportspec schema`."""

from __future__ import annotations

import json

import click

from exportspec.cli.boundary import writing_stdout
from exportspec.errors import UsageError


@click.command()
@click.option(
    "--editor",
    is_flag=True,
    help="Let every value under export and output also be a template string, as specs allow.",
)
@click.option(
    "--body", is_flag=True, help="Print the request-body schema instead of the spec-file schema."
)
def schema(editor: bool, body: bool) -> None:
    """Print a self-contained JSON Schema (2020-12) for spec files.

    Without options, every value must already be final: a template string such as
    "{{ segment }}" where a number belongs fails it. With --editor, any value under
    export and output may also be a template, as specs allow: point your editor at
    that one for validation and completion while typing. VS Code (YAML extension) —
    first line of a YAML spec:

        # yaml-language-server: $schema=../schemas/spec.editor.schema.json

    Taplo / Even Better TOML — first line of a TOML spec:

        #:schema ../schemas/spec.editor.schema.json

    `exportspec schema --editor > schemas/spec.editor.schema.json` refreshes that file.
    With --body: the schema of the request body alone (the `export` object, rendered).
    """
    from exportspec.spec.editor_schema import body_schema, spec_schema

    if editor and body:
        raise UsageError("--editor and --body exclude each other: --editor is for spec files")
    document = body_schema() if body else spec_schema(editor=editor)
    with writing_stdout():
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
