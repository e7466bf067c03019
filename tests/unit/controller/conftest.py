"""Shared fixtures of the operator's unit tests: a valid base object and the bad-input table."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.merge_patch import merged

CASES_FILE = Path(__file__).with_name("cel_cases.yaml")


@pytest.fixture(scope="session")
def cel_table() -> dict[str, Any]:
    return yaml.safe_load(CASES_FILE.read_text())


@pytest.fixture
def base_app(cel_table: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(cel_table["base"])


@pytest.fixture
def make_app(base_app: dict[str, Any]):
    """Builds a ChatApplication document from the base plus a merge patch."""

    def build(patch: dict[str, Any] | None = None) -> dict[str, Any]:
        return merged(base_app, patch or {})

    return build
