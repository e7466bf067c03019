"""CLI commands of this part (being built)."""

import typer


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root CLI."""
