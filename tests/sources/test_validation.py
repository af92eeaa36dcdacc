import json

from mlplatform.sources.ingest import ingest_transactions, validate_fraud_reports
from mlplatform.sources.landing import LocalLandingZone

GOOD = {
    "transaction_id": 1,
    "tx_datetime": "2018-04-01T10:00:00",
    "customer_id": 1,
    "terminal_id": 2,
    "tx_amount": 12.5,
}


def _land(tmp_path, lines):
    zone = LocalLandingZone(tmp_path)
    zone.put("transactions/date=2018-04-01/part-10.ndjson", "\n".join(lines).encode())
    zone.put("transactions/date=2018-04-01/_SUCCESS", b"{}")
    return zone


def test_each_kind_of_bad_record_is_quarantined_with_its_reason(tmp_path):
    bad = {
        "malformed JSON": "{not json",
        "missing field: tx_amount": json.dumps(
            {k: v for k, v in GOOD.items() if k != "tx_amount"} | {"transaction_id": 2}
        ),
        "wrong type: customer_id must be a number": json.dumps(GOOD | {"transaction_id": 3, "customer_id": "abc"}),
        "wrong type: customer_id must be an integer": json.dumps(GOOD | {"transaction_id": 4, "customer_id": 1.5}),
        "invalid value: tx_amount is negative": json.dumps(GOOD | {"transaction_id": 5, "tx_amount": -3}),
        # json.dumps writes float("nan") as the bare NaN token, as a careless producer would.
        "invalid value: tx_amount is NaN": json.dumps(GOOD | {"transaction_id": 6, "tx_amount": float("nan")}),
        "timestamp outside partition 2018-04-01": json.dumps(
            GOOD | {"transaction_id": 7, "tx_datetime": "2018-04-02T00:00:00"}
        ),
        "wrong type: tx_datetime must be an ISO-8601 timestamp": json.dumps(
            GOOD | {"transaction_id": 8, "tx_datetime": "yesterday"}
        ),
        "unknown customer_id": json.dumps(GOOD | {"transaction_id": 9, "customer_id": 999}),
        "unknown terminal_id": json.dumps(GOOD | {"transaction_id": 10, "terminal_id": 999}),
        "duplicate transaction_id": json.dumps(GOOD),
        "malformed record: not a JSON object": "[1, 2]",
    }
    lines = [json.dumps(GOOD), json.dumps(GOOD | {"transaction_id": 11, "tx_amount": 0}), *bad.values()]
    result = ingest_transactions(_land(tmp_path, lines), "2018-04-01", customers=[1, 2], terminals=[2, 3])

    assert result.rows_in == len(lines)
    assert len(result.accepted) + len(result.quarantined) == len(lines)
    assert sorted(result.accepted["transaction_id"]) == [1, 11]
    assert sorted(result.quarantined["reason"]) == sorted(bad)
    # Nothing is lost: the raw text of every bad record is kept, with the file it came from.
    kept = dict(zip(result.quarantined["reason"], result.quarantined["record"], strict=True))
    assert kept["malformed JSON"] == "{not json"
    assert json.loads(kept["unknown customer_id"])["customer_id"] == 999
    assert set(result.quarantined["origin"]) == {"transactions/date=2018-04-01/part-10.ndjson"}
    assert str(result.accepted["tx_datetime"].dtype) == "datetime64[ns]"


def test_fraud_reports_must_be_reported_within_the_partition_and_after_the_transaction():
    ok = {
        "report_id": "cb-1",
        "transaction_id": 1,
        "customer_id": 1,
        "tx_datetime": "2018-04-01T10:00:00",
        "reported_at": "2018-04-05T09:00:00",
    }
    records = [
        ok,
        ok | {"report_id": "cb-2", "reported_at": "2018-04-06T00:00:00"},
        ok | {"report_id": "cb-3", "tx_datetime": "2018-04-05T10:00:00"},
        ok,
    ]
    result = validate_fraud_reports(records, "2018-04-05")
    assert result.accepted["report_id"].tolist() == ["cb-1"]
    assert result.quarantined["reason"].tolist() == [
        "reported_at outside partition 2018-04-05",
        "reported before the transaction happened",
        "duplicate report_id",
    ]


def test_bulk_and_record_by_record_paths_agree():
    """A well-typed file takes Arrow's bulk path; its verdicts equal the record-by-record checker's."""
    import pandas as pd

    from mlplatform.sources.ingest import TRANSACTION_FIELDS
    from mlplatform.sources.validation import RecordChecker, _bulk_checker, parse_ndjson

    lines = [
        json.dumps(GOOD),
        json.dumps(GOOD | {"transaction_id": 2, "tx_amount": -1.0}),
        json.dumps(GOOD | {"transaction_id": 3, "tx_amount": float("nan")}),
        json.dumps(GOOD | {"transaction_id": 4, "customer_id": None}),
        json.dumps({k: v for k, v in GOOD.items() if k != "terminal_id"} | {"transaction_id": 5}),
        json.dumps(GOOD | {"transaction_id": 6, "tx_amount": 7}),
    ]
    data = "\n".join(lines).encode()
    bulk = _bulk_checker(data, data.splitlines(), "f", TRANSACTION_FIELDS)
    assert bulk is not None  # this file is eligible for the fast path
    slow = RecordChecker(*parse_ndjson(data, "f")[:1], TRANSACTION_FIELDS, ["f"] * len(lines))
    assert (
        bulk.reason.tolist()
        == slow.reason.tolist()
        == [
            "",
            "invalid value: tx_amount is negative",
            "invalid value: tx_amount is NaN",
            "missing field: customer_id",
            "missing field: terminal_id",
            "",
        ]
    )
    fast_result, slow_result = bulk.result(), slow.result()
    pd.testing.assert_frame_equal(fast_result.accepted, slow_result.accepted)
    assert fast_result.quarantined["reason"].tolist() == slow_result.quarantined["reason"].tolist()
    assert [json.loads(r)["transaction_id"] for r in fast_result.quarantined["record"]] == [2, 3, 4, 5]
