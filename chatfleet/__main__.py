"""`python -m chatfleet` runs the CLI, for images and environments without the console script."""

from chatfleet.cli import app

app()
