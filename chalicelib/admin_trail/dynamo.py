"""The admin trail on DynamoDB (table `admin_trail`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chalicelib.admin_trail.models import AdminTrailModel
from chalicelib.admin_trail.ports import entry_doc, entry_key, month_of
from chalicelib.ids import new_id
from chalicelib.storage import save_if, with_retries


def _pk(month: str) -> str:
    return f"AUDIT#{month}"


class DynamoAdminTrail:
    """Appends with a condition that the item is new, so no entry is ever overwritten."""

    def append(self, at: datetime, who: str, role: str, action: str, subject: str, what: dict[str, Any]) -> str:
        entry_id = new_id("aud")
        item = AdminTrailModel(_pk(month_of(at)), entry_key(at, entry_id),
                               data=json.dumps(entry_doc(at, entry_id, who, role, action, subject, what)))
        # The id is fresh: a failed condition means this very entry was saved by an attempt whose
        # reply was lost before the retry.
        save_if(item, AdminTrailModel.pk.does_not_exist())
        return entry_id

    def entries(self, month: str) -> list[dict[str, Any]]:
        return with_retries(lambda: [json.loads(m.data) for m in
                                     AdminTrailModel.query(_pk(month), consistent_read=True)])
