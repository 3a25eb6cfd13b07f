"""Partial updates of ORM rows that tell whether anything changed: an unchanged row records no outbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def apply_changes(row: object, changes: Mapping[str, Any]) -> bool:
    """Set the given attributes on an ORM row; return whether any value actually changed."""
    changed = False
    for field, value in changes.items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed
