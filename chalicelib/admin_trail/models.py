"""PynamoDB model of the admin trail: table `admin_trail`, pk `AUDIT#<YYYY-MM>` (UTC month),
sk `<UTC ISO time>#<entry id>`, the entry as a JSON document. Items are only ever added."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from chalicelib.storage import BaseModel


class AdminTrailModel(BaseModel):
    TABLE = "admin_trail"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute()  # JSON document (`chalicelib.admin_trail.ports.entry_doc`)


MODELS: list[type[BaseModel]] = [AdminTrailModel]
