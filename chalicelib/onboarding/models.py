"""PynamoDB models of partners, merchants, stores and terminals (the single table definitions)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.storage import BaseModel


class PartnerModel(BaseModel):
    TABLE = "partners"

    class Meta(BaseModel.Meta):
        pass

    partner_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class MerchantsByPartner(GlobalSecondaryIndex["MerchantModel"]):
    class Meta:
        index_name = "partner_index"
        projection = AllProjection()

    partner_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute(range_key=True)


class MerchantsBySeller(GlobalSecondaryIndex["MerchantModel"]):
    class Meta:
        index_name = "seller_index"
        projection = AllProjection()

    alipay_seller_id = UnicodeAttribute(hash_key=True)


class MerchantModel(BaseModel):
    TABLE = "merchants"

    class Meta(BaseModel.Meta):
        pass

    merchant_id = UnicodeAttribute(hash_key=True)
    partner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    city = UnicodeAttribute(null=True)
    alipay_seller_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    partner_index = MerchantsByPartner()
    seller_index = MerchantsBySeller()


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


MODELS = [PartnerModel, MerchantModel, StoreModel, TerminalModel]
