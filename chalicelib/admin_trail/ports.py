"""The admin trail's port and the shape of its entries. No AWS here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.clock import iso


class AdminTrail(Protocol):
    """Append-only, partitioned by UTC month."""

    def append(self, at: datetime, who: str, role: str, action: str, subject: str, what: dict[str, Any]) -> str:
        """Record that `who` (in `role`) did `action` (e.g. "contest.settle") to `subject` at `at`;
        returns the new entry's id. An entry is never replaced."""
        ...

    def entries(self, month: str) -> list[dict[str, Any]]:
        """The entries of a UTC month ("YYYY-MM"), oldest first (see `entry_doc`)."""
        ...


def month_of(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m}"


def entry_key(at: datetime, entry_id: str) -> str:
    """Orders a month's entries by time (UTC), then id."""
    return f"{at.astimezone(UTC).isoformat()}#{entry_id}"


def entry_doc(at: datetime, entry_id: str, who: str, role: str, action: str, subject: str,
              what: dict[str, Any]) -> dict[str, Any]:
    """An entry as stored and read back. The subject is also under `<area>_id`, named after the
    action's area (`contest.settle` -> `contest_id`), as entries had it when the trail was the
    contest area's."""
    doc: dict[str, Any] = {"audit_id": entry_id, "at": iso(at), "who": who, "role": role, "action": action,
                           "subject": subject}
    area, dot, _ = action.partition(".")
    if dot and area:
        doc[f"{area}_id"] = subject
    doc["what"] = what
    return doc
