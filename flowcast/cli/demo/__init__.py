"""flowcast.cli.demo.command."""
