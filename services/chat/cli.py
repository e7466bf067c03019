"""CLI commands of the chat service part."""

import typer

from chatfleet.chat.simulator import cli as simulator_cli


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root CLI."""
    simulator_cli.register(app)
