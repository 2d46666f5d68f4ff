"""`create_tables` on data an older `make run` kept: a table that exists without an index its
model now declares gets the index (CloudFormation does this on deployed stages)."""

from __future__ import annotations

import secrets

import boto3
from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.storage import BaseModel, add_missing_indexes, create_tables


class ByColour(GlobalSecondaryIndex["Thing"]):
    class Meta:
        index_name = "colour_index"
        projection = AllProjection()

    colour = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class Thing(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = f"t-local-tables-{secrets.token_hex(4)}"

    thing_id = UnicodeAttribute(hash_key=True)
    colour = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    colour_index = ByColour()


def test_an_index_the_model_gained_is_added_to_the_existing_table_with_its_items(ddb_endpoint: str) -> None:
    setattr(Thing.Meta, "host", ddb_endpoint)  # noqa: B010 - as storage.bind does
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=ddb_endpoint)
    # the table as an older version of the model made it: no index
    client.create_table(TableName=Thing.Meta.table_name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "thing_id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "thing_id", "KeyType": "HASH"}])
    try:
        Thing("t1", colour="red", name="apple").save()
        assert create_tables([Thing]) == [f"{Thing.Meta.table_name}.colour_index"]
        indexes = client.describe_table(TableName=Thing.Meta.table_name)["Table"]["GlobalSecondaryIndexes"]
        assert [(i["IndexName"], i["IndexStatus"]) for i in indexes] == [("colour_index", "ACTIVE")]
        assert [t.thing_id for t in Thing.colour_index.query("red")] == ["t1"]  # existing items indexed
        assert add_missing_indexes(Thing) == [] and create_tables([Thing]) == []  # nothing more to do
    finally:
        client.delete_table(TableName=Thing.Meta.table_name)
