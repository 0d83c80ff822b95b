"""Does the live object still hold what the operator declared?

Server defaulting adds fields and controllers write status, so equality is the wrong
test: every field the operator declares must be present with the same value, and nothing
else matters. Lists must match item by item (same length), since a declared list is
owned whole (containers, ports, rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def holds(live: Any, declared: Any) -> bool:
    if isinstance(declared, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(key in live and holds(live[key], value) for key, value in declared.items())
    if isinstance(declared, list):
        if not isinstance(live, list) or len(live) != len(declared):
            return False
        return all(holds(a, b) for a, b in zip(live, declared, strict=True))
    if isinstance(declared, bool) or isinstance(live, bool):
        return live is declared
    return bool(live == declared)


def drifted_paths(live: Any, declared: Any, prefix: str = "") -> list[str]:
    """Where ``live`` departs from ``declared`` (for messages; values are never shown,
    since Secrets pass through here)."""
    if isinstance(declared, Mapping) and isinstance(live, Mapping):
        paths: list[str] = []
        for key, value in declared.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in live:
                paths.append(path)
            else:
                paths.extend(drifted_paths(live[key], value, path))
        return paths
    return [] if holds(live, declared) else [prefix or "."]
