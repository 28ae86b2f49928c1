"""The `exportspec` click group; subcommands are imported only when invoked.

Start-up matters: `exportspec --version` and `--help` import click and nothing heavy,
and `validate` never imports the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from exportspec import __version__

#: Subcommand name -> "module:attribute" of its click.Command, in help order.
COMMAND_BY_NAME: dict[str, tuple[str, str]] = {
    "validate": (
        "exportspec.cli.validate_cmd:validate",
        "Check specs; report every problem at file:line:column.",
    ),
    "compile": (
        "exportspec.cli.compile_cmd:compile_",
        "Print a spec's request body as canonical JSON.",
    ),
    "run": ("exportspec.cli.run_cmd:run", "Compile a spec, send it, stream the export to a file."),
    "rerun": (
        "exportspec.cli.run_cmd:rerun",
        "Send the body stored in a run record again, unchanged.",
    ),
    "apply": (
        "exportspec.cli.apply_cmd:apply",
        "Run the specs whose lock entry changed since a base, as locked.",
    ),
    "lock": (
        "exportspec.cli.lock_cmd:lock",
        "Write exportspec.lock: every spec's compiled body and its hash.",
    ),
    "plan": ("exportspec.cli.lock_cmd:plan", "Show which request bodies differ from the lock."),
    "schema": (
        "exportspec.cli.schema_cmd:schema",
        "Print the JSON Schema of spec files (for editors: --editor).",
    ),
    "sandbox": (
        "exportspec.cli.sandbox_cmd:sandbox",
        "Serve a local emulator of the export endpoint.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in their own modules and load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_BY_NAME)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMAND_BY_NAME.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target[0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the chosen command inside the one error boundary."""
        from exportspec.cli.boundary import error_boundary

        def command_context() -> click.Context | None:
            name = ctx.invoked_subcommand
            command = self.get_command(ctx, name) if name else None
            if command is None:
                return None
            return command.make_context(name, [], parent=ctx, resilient_parsing=True)

        with error_boundary(command_context, show_traceback=bool(ctx.params.get("traceback"))):
            return super().invoke(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from the registry so `--help` imports no subcommand module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMAND_BY_NAME.items()])


CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group("exportspec", cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="exportspec")
@click.option(
    "--traceback",
    is_flag=True,
    help="On an unexpected error (a bug), also print the Python traceback for the report; "
    "exit codes stay.",
)
def main(traceback: bool) -> None:
    """Compile, check and run Bloomreach Engagement customer-export specs.

    Specs are YAML or TOML files in git. `validate` checks them the way the API
    would, `compile` prints the exact request body, `run` sends it and streams the
    export to disk. Try it without an account:

    \b
        exportspec run specs/all-customers.yaml --sandbox

    \b
    Exit codes: 0 ok, 1 invalid spec, 2 usage, 3 configuration,
    4 refused by the API, 5 transient failure after retries, 6 plan found changes,
    129 hung up, 130 interrupted, 131 quit, 141 stdout reader left, 143 terminated.
    """
