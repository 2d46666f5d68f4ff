"""PynamoDB models of the identity area: the `api_keys` table with its three list indexes, and
remembered authorization codes in the shared guards table.

The indexes project everything a list shows and never the secret's hash. `partner_index` and
`merchant_index` are sparse (an admin key has neither id); `all_index` puts every key under one
constant partition (`kind`): fine for the few thousand keys and the few writes a minute this table
sees (a GSI partition takes 1,000 writes/s), to be sharded if that ever changes.
"""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection

from chalicelib.storage import BaseModel

KEY_KIND = "api_key"  # the one partition of `all_index`
_SHOWN = ["name", "role", "created_at", "created_by", "revoked_at"]  # with the ids: an `ApiKey`


class KeysByPartner(GlobalSecondaryIndex["ApiKeyModel"]):
    """A partner's keys and its merchants' keys, newest first."""

    class Meta:
        index_name = "partner_index"
        projection = IncludeProjection([*_SHOWN, "merchant_id"])

    partner_id = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


class KeysByMerchant(GlobalSecondaryIndex["ApiKeyModel"]):
    """A merchant's keys, newest first."""

    class Meta:
        index_name = "merchant_index"
        projection = IncludeProjection([*_SHOWN, "partner_id"])

    merchant_id = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


class AllKeys(GlobalSecondaryIndex["ApiKeyModel"]):
    """Every key, newest first (admins)."""

    class Meta:
        index_name = "all_index"
        projection = IncludeProjection([*_SHOWN, "partner_id", "merchant_id"])

    kind = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


class ApiKeyModel(BaseModel):
    TABLE = "api_keys"

    class Meta(BaseModel.Meta):
        pass

    key_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=KEY_KIND)
    list_order = UnicodeAttribute()  # `domain.list_order(created_at, key_id)`
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    partner_id = UnicodeAttribute(null=True)
    merchant_id = UnicodeAttribute(null=True)
    secret_hash = UnicodeAttribute()  # `domain.SecretHasher`: never the secret
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)

    partner_index = KeysByPartner()
    merchant_index = KeysByMerchant()
    all_index = AllKeys()


class AuthCodeModel(BaseModel):
    """A remembered platform authorization code, in the shared guards table (same key schema and
    TTL): `key` = `authcode#<sha256 of the code>`, `owner` = the merchant it was used for,
    `result` = the JSON answer given."""

    TABLE = "guards"
    OWNS_TABLE = False

    class Meta(BaseModel.Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    result = UnicodeAttribute(null=True)


MODELS: list[type[BaseModel]] = [ApiKeyModel, AuthCodeModel]
