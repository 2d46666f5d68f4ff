"""In-memory fake of `chalicelib.admin_trail.ports.AdminTrail` (same contract suite as
`DynamoAdminTrail`: tests/integration/test_admin_trail_contract.py)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from chalicelib.admin_trail.ports import entry_doc, entry_key, month_of
from chalicelib.ids import new_id


class InMemoryAdminTrail:
    def __init__(self) -> None:
        self.months: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._lock = threading.Lock()

    def append(self, at: datetime, who: str, role: str, action: str, subject: str, what: dict[str, Any]) -> str:
        entry_id = new_id("aud")
        doc = _stored(entry_doc(at, entry_id, who, role, action, subject, what))
        with self._lock:
            self.months[month_of(at)].setdefault(entry_key(at, entry_id), doc)
        return entry_id

    def entries(self, month: str) -> list[dict[str, Any]]:
        with self._lock:
            return [_stored(doc) for _, doc in sorted(self.months.get(month, {}).items())]


def _stored(value: Any) -> Any:
    """A copy as storage would keep it (JSON), so the fake refuses what DynamoDB would."""
    return json.loads(json.dumps(value))
