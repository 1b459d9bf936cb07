"""The ``flowcast`` command line: one entry point, one module per subcommand.

Subcommands are imported only when invoked, so ``flowcast --help`` stays fast and a heavy
dependency (Numba, LightGBM) is loaded only by the commands that need it.

Exit codes: 0 success, 2 a user error (one line saying what to change), 1 anything else.
"""

from __future__ import annotations

import importlib
import sys

import click

from flowcast.errors import FlowcastUserError

# name -> (module, attribute, one-line help shown by `flowcast --help`)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": ("flowcast.cli.simulate", "simulate",
                 "Simulate a city: history dataset on disk, or a live stream into Kafka."),
    "import": ("flowcast.cli.importcmd", "import_csv",
               "Import a CSV of real detector data into a flowcast dataset."),
    "run": ("flowcast.cli.run", "run",
            "Run the streaming engine: readings in, road conditions and spot forecasts out."),
    "topics": ("flowcast.cli.topics", "topics", "Create and inspect flowcast's Kafka topics."),
    "broker": ("flowcast.cli.broker", "broker",
               "Start a local single-node Kafka broker (KRaft) for development."),
    "train": ("flowcast.cli.train", "train",
              "Train the LightGBM road and scenic-spot forecasters on a dataset."),
    "backtest": ("flowcast.cli.backtest", "backtest", "Backtest road forecasts; write a report."),
    "replay": ("flowcast.cli.replay", "replay",
               "Stream a dataset through the real engine and score what it published."),
    "demo": ("flowcast.cli.demo.command", "demo",
             "A simulated city through the real engine, with the screen and bureau pages."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in their own modules, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attribute, _ = SUBCOMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in sorted(SUBCOMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="flowcast")
def cli() -> None:
    """flowcast: real-time traffic and tourist-flow prediction for a city's urban brain."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes become one ``error:`` line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="flowcast", standalone_mode=False)
    except FlowcastUserError as err:
        click.echo(f"error: {err}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
