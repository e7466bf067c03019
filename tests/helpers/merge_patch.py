"""Building ChatApplication variants from a valid base object, the way `kubectl patch --type merge` would."""

import copy
from typing import Any


def merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON-merge-patch semantics: mappings merge, everything else (lists too) replaces. Copies, never
    aliases, so a test cannot change the shared base by changing its result."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else copy.deepcopy(value)
    return out
