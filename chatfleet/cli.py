"""The one `chatfleet` command; each part of the platform registers its own subcommands."""

import typer

from chatfleet import __version__, up

app = typer.Typer(
    name="chatfleet",
    help="Run retrieval-augmented chat applications in production on Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """chatfleet: CRD + operator, chat service, load-test gate and local stack."""


def _register_parts() -> None:
    """Each part owns its CLI module; importing them here keeps `chatfleet --help` complete."""
    from chatfleet.chat import cli as chat_cli
    from chatfleet.controller import cli as controller_cli
    from chatfleet.devcluster import cli as devcluster_cli
    from chatfleet.eval import cli as eval_cli
    from chatfleet.loadtests import cli as loadtests_cli

    for part in (controller_cli, devcluster_cli, chat_cli, loadtests_cli, eval_cli, up):
        part.register(app)


_register_parts()
