"""One rule, two enforcers: a CEL expression for the API server and its Python twin for `chatfleet render`.

A `Cel` marker sits in a field's `Annotated[...]` metadata. Pydantic runs `check` after the field's own
validation and fails with exactly `message`; the CRD generator copies `rule` and `message` into
`x-kubernetes-validations`. Keeping both in one object is what stops the two from drifting apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from chatfleet.contracts.endpoints import IDENTITY, SIGN_IN, UPSTREAM, EndpointRule

VALIDATIONS_KEY = "x-kubernetes-validations"

# Go duration subset the CRD accepts: hours, minutes, seconds (e.g. "90s", "2m", "1h30m").
DURATION_PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_DURATION_PART_RE = re.compile(r"([0-9]+)([hms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int | None:
    """Seconds of a Go-style duration ("2m", "1h30m"); None when CEL's `duration()` would reject it."""
    if not text or not _DURATION_RE.match(text):
        return None
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART_RE.findall(text))


def duration_within_rule(low: str, high: str) -> str:
    """CEL for "a Go duration between low and high"; `matches` first so `duration()` never sees junk."""
    return (
        f"self.matches('{DURATION_PATTERN}') && self != '' && "
        f"duration(self) >= duration('{low}') && duration(self) <= duration('{high}')"
    )


def duration_within(low: str, high: str) -> Callable[[str], bool]:
    """Python twin of `duration_within_rule`."""
    low_s, high_s = parse_duration(low), parse_duration(high)
    assert low_s is not None and high_s is not None

    def check(value: str) -> bool:
        seconds = parse_duration(value)
        return seconds is not None and low_s <= seconds <= high_s

    return check


@dataclass(frozen=True)
class Cel:
    """A CEL validation rule with its message and the Python predicate that mirrors it."""

    rule: str
    message: str
    check: Callable[[Any], bool] | None = field(default=None, compare=False)
    transition: bool = False  # uses oldSelf: enforced by the API server only (no old object in `render`)
    field_path: str | None = None  # reported path when the rule sits above the field it checks

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        if self.check is None:
            return schema
        return core_schema.no_info_after_validator_function(self._validate, schema)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault(VALIDATIONS_KEY, []).append(self.as_validation())
        return json_schema

    def as_validation(self) -> dict[str, Any]:  # Any: a JSON value in pydantic's json_schema_extra
        validation = {"rule": self.rule, "message": self.message}
        if self.field_path:
            validation["fieldPath"] = self.field_path
        return validation

    def _validate(self, value: Any) -> Any:
        if value is not None and self.check is not None and not self.check(value):
            raise PydanticCustomError("cel", self.message)
        return value


def endpoint(rule: EndpointRule) -> Cel:
    """An endpoint policy as a field marker: the CEL rule is generated from the contract's regex."""
    return Cel(rule=rule.cel_rule(), message=rule.message, check=rule.allows)


UPSTREAM_ENDPOINT = endpoint(UPSTREAM)
IDENTITY_ENDPOINT = endpoint(IDENTITY)
SIGN_IN_ENDPOINT = endpoint(SIGN_IN)
POSITIVE = Cel(rule="self > 0", message="must be greater than 0", check=lambda n: n > 0)
