"""Reads the example CI/CD files of examples/pipelines and checks their shell command lines.

No offline linter knows Azure Pipelines, and actionlint does not look inside `chatfleet` or `kubectl`
arguments, so the tests check each command line against the real programs: `chatfleet` lines through the
chatfleet CLI's own argument parser (click, as `--help` would), `kubectl` lines against the flags the
locally built kubectl lists for that subcommand.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import typer

from chatfleet.cli import app

# What a pipeline variable stands for when a line is parsed: type-valid for every option that takes one.
PLACEHOLDER = "https://placeholder.example"
_AZURE_MACRO = re.compile(r"\$\(([A-Za-z_][\w.]*)\)")  # $(APP_FILE), $(Build.ArtifactStagingDirectory)
_GITHUB_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
_SHELL_VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")  # $(az account get-access-token ...), after macros are gone
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


@dataclass(frozen=True)
class Command:
    """One simple command of a script: its words, with every variable replaced by PLACEHOLDER."""

    argv: tuple[str, ...]
    line: str


def azure_macros(script: str) -> set[str]:
    """Names of the `$(NAME)` macros Azure Pipelines replaces before the shell runs."""
    return set(_AZURE_MACRO.findall(script))


def shell_variables(script: str) -> set[str]:
    """Names of the `$NAME` / `${NAME}` the shell expands (Azure macros and GitHub expressions left out)."""
    return set(_SHELL_VARIABLE.findall(_GITHUB_EXPRESSION.sub("", _AZURE_MACRO.sub("", script))))


def assigned_variables(script: str) -> set[str]:
    """Variables a script sets itself (`generation="$(...)"`, or `VAR=value command`)."""
    return set(re.findall(r"(?:^|\s)([A-Za-z_]\w*)=", script))


def commands(script: str) -> Iterator[Command]:
    """The simple commands of a script, command substitutions included, one per logical line."""
    text = re.sub(r"\\\n\s*", " ", script)  # backslash continuations
    text = _GITHUB_EXPRESSION.sub(PLACEHOLDER, _AZURE_MACRO.sub(PLACEHOLDER, text))
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        while match := _SUBSTITUTION.search(line):
            yield from commands(match.group(1))
            line = line[: match.start()] + PLACEHOLDER + line[match.end() :]
        words = [_SHELL_VARIABLE.sub(PLACEHOLDER, word) for word in shlex.split(line, comments=True)]
        if ">" in words:  # a redirection ends the arguments
            words = words[: words.index(">")]
        while words and _ASSIGNMENT.match(words[0]):  # VAR=value before the command
            words.pop(0)
        if words:
            yield Command(tuple(words), line)


class UsageError(AssertionError):
    """The chatfleet CLI refused a line as a usage error (the real command would exit 2)."""


def parse_chatfleet(argv: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """Parses `chatfleet ...` with the CLI's own parser, without running it: (command path, its parameters).

    Raises UsageError for an unknown command or option, a missing required one, or a value of the wrong type
    or outside its choices, exactly as the real command would before doing anything. (Typer vendors click,
    so its exceptions are matched by typer's public base class and the usage-error exit code.)
    """
    assert argv[0] == "chatfleet", argv
    command: Any = typer.main.get_command(app)
    path = ["chatfleet"]
    try:
        context = command.make_context("chatfleet", list(argv[1:]))
        # A group: the next word names a subcommand, unless the group runs itself (`chatfleet loadtest`).
        while hasattr(command, "resolve_command"):
            remaining = [*context._protected_args, *context.args]
            if not remaining and command.invoke_without_command:
                break
            name, command, rest = command.resolve_command(context, remaining)
            path.append(name)
            context = command.make_context(name, rest, parent=context)
    except typer.TyperException as error:
        if getattr(error, "exit_code", None) != 2:
            raise
        raise UsageError(f"{' '.join(path)}: {error.format_message()}") from None
    return " ".join(path), context.params


@cache
def _kubectl_flags(kubectl: Path, subcommand: str) -> frozenset[str]:
    """The long and short flags `kubectl SUBCOMMAND --help` and `kubectl options` list."""
    flags: set[str] = set()
    for args in ([subcommand, "--help"], ["options"]):
        result = subprocess.run([str(kubectl), *args], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        for line in result.stdout.splitlines():
            if match := re.match(r"^\s+(?:(-\w), )?(--[\w-]+)=", line):
                flags.update(flag for flag in match.groups() if flag)
    return frozenset(flags)


def check_kubectl(kubectl: Path, argv: tuple[str, ...]) -> None:
    """Every flag of a kubectl line is one its subcommand accepts; an unknown subcommand fails too."""
    assert argv[0] == "kubectl", argv
    subcommand = argv[1]
    known = _kubectl_flags(kubectl, subcommand)
    for word in argv[2:]:
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            assert flag in known, f"kubectl {subcommand}: unknown flag {flag}"
