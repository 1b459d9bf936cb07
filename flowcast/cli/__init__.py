"""The ``flowcast`` command line: one entry point, one module per subcommand.

Exit codes: 0 success, 2 a user error (one line saying what to change), 1 anything else.
"""

from __future__ import annotations

import sys

import click

from flowcast.cli.broker import broker
from flowcast.cli.importcmd import import_csv
from flowcast.cli.simulate import simulate
from flowcast.cli.topics import topics
from flowcast.errors import FlowcastUserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="flowcast")
def cli() -> None:
    """flowcast: real-time traffic and tourist-flow prediction for a city's urban brain."""


cli.add_command(simulate)
cli.add_command(import_csv)
cli.add_command(topics)
cli.add_command(broker)


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
