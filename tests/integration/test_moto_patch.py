"""The local runtime's moto patch keeps transactions all-or-nothing (so tests relying on it can fail)."""

from __future__ import annotations

from tally.settings import settings
from tally.store.aws import dynamodb
from tally_local import moto_patch


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(moto_tables):
    # GIVEN the patch installed (the fixture does, as `make run` does)
    assert moto_patch.installed()
    # WHEN a transaction with an ADD, a new Put and a failing conditional Put is cancelled
    # THEN the counter keeps its value and the new item does not exist (canary raises otherwise)
    moto_patch.canary(dynamodb(), settings().usage_table, "acct_canary")


def test_another_moto_release_is_refused_with_what_to_do():
    # GIVEN a moto release the patch was not written for WHEN the local runtime checks THEN it refuses
    import pytest

    with pytest.raises(moto_patch.WrongMotoVersion, match="make clean && make install"):
        moto_patch.check_version("5.1.0")
    moto_patch.check_version(moto_patch.MOTO_VERSION)  # the pinned one passes


def test_a_partition_query_answers_exactly_what_moto_answers_unpatched(moto_tables):
    # GIVEN three partitions of the usage table, interleaved, with numeric-looking and plain sort keys
    import random

    client, table = dynamodb(), settings().usage_table
    rng = random.Random(7)
    keys = [(f"acct_qp#{p}", f"{rng.randrange(10_000):05d}#{i}") for i in range(120) for p in "abc"]
    for pk, sk in keys:
        client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(len(sk))}})

    def pages(**query):
        out, start = [], None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            got = client.query(TableName=table, Limit=7, **query, **extra)
            out.append([(i["pk"]["S"], i["sk"]["S"]) for i in got["Items"]])
            start = got.get("LastEvaluatedKey")
            if not start:
                return out

    queries = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "acct_qp#b"}}},
        {
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":p": {"S": "acct_qp#a"}, ":lo": {"S": "02"}, ":hi": {"S": "07"}},
            "ScanIndexForward": False,
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "acct_qp#none"}}},
    ]
    # WHEN each query is paged with the patch THEN the pages equal stock moto's, page for page
    patched = [pages(**q) for q in queries]
    moto_patch.uninstall()
    try:
        stock = [pages(**q) for q in queries]
    finally:
        moto_patch.install()
    assert patched == stock
    assert sum(len(p) for p in patched[0]) == 120 and patched[2] == [[]]


def test_an_index_query_answers_what_moto_answers_unpatched_without_sorting_the_table(moto_tables):
    # GIVEN objects-table items of three index partitions (by_customer), interleaved, with ties on
    # the index sort key (broken by the table's key), and items outside the index (no cpk)
    import random
    from unittest import mock

    import moto.dynamodb.models.table as moto_table

    client, table = dynamodb(), settings().objects_table
    rng = random.Random(11)
    for i in range(150):
        for part in "abc":
            item = {"pk": {"S": f"acct_ix#{rng.randrange(40)}"}, "sk": {"S": f"obj#{part}#{i:04d}"}}
            if i % 5:
                item |= {"cpk": {"S": f"acct_ix#cus_{part}"}, "csk": {"S": f"{rng.randrange(30):03d}"}}
            client.put_item(TableName=table, Item=item)

    def pages(**query):
        out, start = [], None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            got = client.query(TableName=table, IndexName="by_customer", Limit=9, **query, **extra)
            out.append([(i["pk"]["S"], i["sk"]["S"], i.get("csk", {}).get("S")) for i in got["Items"]])
            start = got.get("LastEvaluatedKey")
            if not start:
                return out

    queries = [
        {"KeyConditionExpression": "cpk = :p", "ExpressionAttributeValues": {":p": {"S": "acct_ix#cus_b"}}},
        {
            "KeyConditionExpression": "cpk = :p AND csk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":p": {"S": "acct_ix#cus_a"},
                ":lo": {"S": "005"},
                ":hi": {"S": "020"},
            },
            "ScanIndexForward": False,
        },
        {
            "KeyConditionExpression": "cpk = :p",
            "ExpressionAttributeValues": {":p": {"S": "acct_ix#cus_none"}},
        },
    ]
    # WHEN each query is paged with the patch, moto's whole-table walk watched (the patch installed
    # over the watch), then with stock moto
    moto_patch.uninstall()
    stock_walk = moto_table.Table.all_items
    try:
        with mock.patch.object(moto_table.Table, "all_items", autospec=True, side_effect=stock_walk) as walk:
            moto_patch.install()
            patched = [pages(**q) for q in queries]
            patched_walks = sum(call.args[0].name == table for call in walk.call_args_list)
            moto_patch.uninstall()
            stock = [pages(**q) for q in queries]
            stock_walks = sum(call.args[0].name == table for call in walk.call_args_list) - patched_walks
    finally:
        moto_patch.install()
    # THEN the patched queries never walked the whole table (stock moto walks it for every page)
    assert patched_walks == 0 and stock_walks >= len(queries)
    # AND their pages equal stock moto's, page for page
    assert patched == stock
    assert sum(len(p) for p in patched[0]) == 120 and patched[2] == [[]]


def test_queue_counts_still_count_and_sends_do_not_walk_the_queue(moto_tables):
    # GIVEN a queue holding 300 messages
    from tally.store.aws import sqs

    client = sqs()
    url = client.create_queue(QueueName="tally-test-patch-counts")["QueueUrl"]
    for lo in range(0, 300, 10):
        client.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{lo + i}"} for i in range(10)]
        )
    # THEN GetQueueAttributes counts them as moto does, and a received one is counted in flight
    got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "299"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert len(got) == 1
    client.delete_queue(QueueUrl=url)


def test_responses_are_serialized_as_stock_moto_does_with_member_aliases_asked_once(moto_tables):
    # GIVEN an item with every DynamoDB type, nested
    from unittest import mock

    from moto.core import serialize

    client, table = dynamodb(), settings().usage_table
    item = {
        "pk": {"S": "acct_ser#1"},
        "sk": {"S": "a"},
        "n": {"N": "1.50"},
        "b": {"B": b"\x00\xffbytes"},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"inner": {"L": [{"S": "deep"}, {"NULL": True}, {"BOOL": False}, {"N": "-3"}]}}},
        "t": {"BOOL": True},
        "empty": {"S": ""},
    }
    client.put_item(TableName=table, Item=item)
    client.put_item(TableName=table, Item={**item, "sk": {"S": "b"}})

    def answers():
        query = {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "acct_ser#1"}},
        }
        key = {"pk": item["pk"], "sk": item["sk"]}
        got = [
            client.get_item(TableName=table, Key=key),
            client.query(TableName=table, **query),
            client.query(TableName=table, Limit=1, ReturnConsumedCapacity="TOTAL", **query),
            client.batch_get_item(RequestItems={table: {"Keys": [key, {**key, "sk": {"S": "b"}}]}}),
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET t = :t",
                ExpressionAttributeValues={":t": {"BOOL": True}},
                ReturnValues="ALL_NEW",
            ),
            client.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}]),
        ]
        for answer in got:
            answer.pop("ResponseMetadata")
        return got

    first = serialize.DEFAULT_ALIAS_PROVIDERS[0]
    init = first.__init__
    with mock.patch.object(first, "__init__", autospec=True, side_effect=init) as asked:
        answers()  # WHEN the same responses are serialized twice with the patch
        asked.reset_mock()
        patched = answers()
        # THEN the second time no alias provider was built (each member's names were remembered)
        assert asked.call_count == 0
    # AND what the client receives equals stock moto's
    moto_patch.uninstall()
    try:
        stock = answers()
    finally:
        moto_patch.install()
    assert patched == stock
    assert patched[0]["Item"] == item
    assert patched[4]["Attributes"] == item and patched[5]["Responses"] == [{"Item": item}]  # as written


def test_attribute_values_are_written_without_walking_their_shape(moto_tables):
    # GIVEN the patch WHEN a Query returns items THEN moto's shape walk is never asked for an
    # attribute value (the patch writes them), and the client reads back exactly what was stored
    from unittest import mock

    from moto.core import serialize

    client, table = dynamodb(), settings().usage_table
    items = [
        {
            "pk": {"S": "acct_av#1"},
            "sk": {"S": f"{i:03d}"},
            "v": {"N": str(i)},
            "m": {"M": {"x": {"L": [{"S": "y"}]}}},
        }
        for i in range(30)
    ]
    for item in items:
        client.put_item(TableName=table, Item=item)
    walked = []
    original = serialize.ResponseSerializer._serialize_type_structure

    def spy(self, serialized, value, shape, key):
        walked.append(shape.name)
        return original(self, serialized, value, shape, key)

    with mock.patch.object(serialize.ResponseSerializer, "_serialize_type_structure", spy):
        got = client.query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "acct_av#1"}},
        )
    assert got["Items"] == items
    assert "AttributeValue" not in walked and walked  # the response's own structure still walked
