"""What a gate container leaves in its termination message: one JSON object (the load test's summary, the
evaluation's verdict), read tolerantly because the kubelet cuts messages at 4 KiB."""

from __future__ import annotations

import json
from typing import Any


def json_object(text: str | bytes | None) -> dict[str, Any] | None:
    """The JSON object in a termination message, or None for an empty, cut or non-object text."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
