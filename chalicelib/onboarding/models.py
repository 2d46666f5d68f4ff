"""PynamoDB models of partners, merchants, stores and terminals (the single table definitions)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib.storage import BaseModel

PARTNER_KIND = "partner"  # the one partition of `PartnersByCreation`


class PartnersByCreation(GlobalSecondaryIndex["PartnerModel"]):
    """Every partner, newest first (the admins' list). One partition: partners are few and
    written rarely."""

    class Meta:
        index_name = "all_index"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


class PartnerModel(BaseModel):
    TABLE = "partners"

    class Meta(BaseModel.Meta):
        pass

    partner_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=PARTNER_KIND)
    list_order = UnicodeAttribute(null=True)  # `domain.list_order(created_at, partner_id)`
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    all_index = PartnersByCreation()


class MerchantsByPartner(GlobalSecondaryIndex["MerchantModel"]):
    class Meta:
        index_name = "partner_index"
        projection = AllProjection()

    partner_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute(range_key=True)


class MerchantsByCreation(GlobalSecondaryIndex["MerchantModel"]):
    """A partner's merchants, newest first (its list)."""

    class Meta:
        index_name = "partner_created_index"
        projection = AllProjection()

    partner_id = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


class MerchantModel(BaseModel):
    TABLE = "merchants"

    class Meta(BaseModel.Meta):
        pass

    merchant_id = UnicodeAttribute(hash_key=True)
    partner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    city = UnicodeAttribute(null=True)
    # the merchant's current id per platform (claimed or verified: see BindingModel)
    alipay_seller_id = UnicodeAttribute(null=True)
    wechat_sub_mchid = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    list_order = UnicodeAttribute(null=True)  # `domain.list_order(created_at, merchant_id)`

    partner_index = MerchantsByPartner()
    partner_created_index = MerchantsByCreation()


class BindingModel(BaseModel):
    """A platform id held by a merchant: pk `<platform>#<id>`, so an id is held by one merchant at
    most (conditional puts). `verified_at` absent: a claim."""

    TABLE = "bindings"

    class Meta(BaseModel.Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    platform = UnicodeAttribute()
    platform_id = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute()
    verified_at = UTCDateTimeAttribute(null=True)


class StoresByMerchant(GlobalSecondaryIndex["StoreModel"]):
    class Meta:
        index_name = "merchant_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute(range_key=True)


class StoreModel(BaseModel):
    TABLE = "stores"

    class Meta(BaseModel.Meta):
        pass

    store_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    address = UnicodeAttribute(null=True)

    merchant_index = StoresByMerchant()


class TerminalsByMerchant(GlobalSecondaryIndex["TerminalModel"]):
    """A merchant's terminals, newest first. Projects what the list shows: never the secret."""

    class Meta:
        index_name = "merchant_index"
        projection = IncludeProjection(["store_id", "kind", "created_at", "revoked_at"])

    merchant_id = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


class TerminalModel(BaseModel):
    TABLE = "terminals"

    class Meta(BaseModel.Meta):
        pass

    terminal_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    secret = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    list_order = UnicodeAttribute(null=True)  # `domain.list_order(created_at, terminal_id)`

    merchant_index = TerminalsByMerchant()


MODELS = [PartnerModel, MerchantModel, StoreModel, TerminalModel, BindingModel]

PLATFORM_ATTRS = {"alipay": MerchantModel.alipay_seller_id, "wechatpay": MerchantModel.wechat_sub_mchid}
