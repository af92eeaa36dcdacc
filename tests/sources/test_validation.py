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
        "wrong type: customer_id must be an integer": json.dumps(GOOD | {"transaction_id": 3, "customer_id": "abc"}),
        "wrong type: terminal_id must be an integer": json.dumps(GOOD | {"transaction_id": 4, "terminal_id": 1.5}),
        "out of range: tx_amount must be from 0.0 to 1000000000.0": json.dumps(
            GOOD | {"transaction_id": 5, "tx_amount": -3}
        ),
        "wrong type: tx_amount must be a number": json.dumps(GOOD | {"transaction_id": 6, "tx_amount": "12.5"}),
        "timestamp outside partition 2018-04-01": json.dumps(
            GOOD | {"transaction_id": 7, "tx_datetime": "2018-04-02T00:00:00"}
        ),
        "wrong type: tx_datetime must be ISO 8601": json.dumps(
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
    # ... and its line: the file is line 1 and 2 good records, then the bad ones in order.
    origins = dict(zip(result.quarantined["reason"], result.quarantined["origin"], strict=True))
    assert origins["malformed JSON"] == "transactions/date=2018-04-01/part-10.ndjson:3"
    assert origins["malformed record: not a JSON object"] == f"transactions/date=2018-04-01/part-10.ndjson:{len(lines)}"
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
    from mlplatform.sources.validation import RecordChecker, _bulk_checker, _parse

    lines = [
        json.dumps(GOOD),
        json.dumps(GOOD | {"transaction_id": 2, "tx_amount": -1.0}),
        json.dumps(GOOD | {"transaction_id": 3, "tx_amount": 1e300}),
        json.dumps(GOOD | {"transaction_id": 4, "customer_id": None}),
        json.dumps({k: v for k, v in GOOD.items() if k != "terminal_id"} | {"transaction_id": 5}),
        json.dumps(GOOD | {"transaction_id": 6, "tx_amount": 7}),
    ]
    data = "\n".join(lines).encode()
    numbered = list(enumerate(data.split(b"\n"), 1))
    bulk = _bulk_checker(data, numbered, "f", TRANSACTION_FIELDS)
    assert bulk is not None  # this file is eligible for the fast path
    slow = RecordChecker([_parse(line) for _, line in numbered], TRANSACTION_FIELDS, [f"f:{n}" for n, _ in numbered])
    assert (
        bulk.reason.tolist()
        == slow.reason.tolist()
        == [
            "",
            "out of range: tx_amount must be from 0.0 to 1000000000.0",
            "out of range: tx_amount must be from 0.0 to 1000000000.0",
            "missing field: customer_id",
            "missing field: terminal_id",
            "",
        ]
    )
    fast_result, slow_result = bulk.result(), slow.result()
    pd.testing.assert_frame_equal(fast_result.accepted, slow_result.accepted)
    for column in ("reason", "origin"):
        assert fast_result.quarantined[column].tolist() == slow_result.quarantined[column].tolist()
    assert [json.loads(r)["transaction_id"] for r in fast_result.quarantined["record"]] == [2, 3, 4, 5]


def test_hostile_records_are_quarantined_exactly_and_never_stop_the_day(tmp_path):
    """Issue 12's defects 1 and 2: each once made a whole day fail or corrupted ids."""
    lines = [
        json.dumps(GOOD | {"transaction_id": 2**53 + 1}),  # above 2^53: exact, not rounded to 2^53
        json.dumps(GOOD | {"transaction_id": 2**63 - 1}),  # the largest id there is
        "{not json",  # a malformed line in the same file sends the file record by record
        json.dumps(GOOD | {"transaction_id": 2**63}),
        "null",  # once crashed Arrow's reader (exit 139)
        json.dumps(GOOD | {"transaction_id": 20, "tx_datetime": "2018-04-01T10:00:00+02:00"}),
        json.dumps(GOOD | {"transaction_id": 21, "tx_datetime": "9999-04-01T10:00:00"}),
        '{"transaction_id": 22, "tx_datetime": "2018-04-01T10:00:00", "customer_id": 1, "terminal_id": 2, '
        '"tx_amount": Infinity}',
        json.dumps(GOOD | {"transaction_id": 23, "tx_amount": 1e308}),
        json.dumps(GOOD | {"transaction_id": 24, "note": "a line\u2028separator inside a string"}).replace(
            "\\u2028", "\u2028"
        ),  # the raw U+2028 character: one record, not two
        json.dumps(GOOD | {"transaction_id": 25, "customer_id": True}),
    ]
    zone = LocalLandingZone(tmp_path)
    zone.put("transactions/date=2018-04-01/part-10.ndjson", "\n".join(lines).encode())
    result = ingest_transactions(zone, "2018-04-01", customers=[1], terminals=[2])
    assert result.rows_in == len(lines)
    assert sorted(result.accepted["transaction_id"].tolist()) == [24, 2**53 + 1, 2**63 - 1]
    reasons = dict(
        zip(
            result.quarantined["origin"].str.rsplit(":", n=1).str[1].astype(int),
            result.quarantined["reason"],
            strict=True,
        )
    )
    assert reasons == {
        3: "malformed JSON",
        4: "out of range: transaction_id must be from 0 to 9223372036854775807",
        5: "malformed record: not a JSON object",
        6: "invalid value: tx_datetime has a time-zone offset",
        7: "out of range: tx_datetime must be from 2000-01-01 00:00:00 to 2100-01-01 00:00:00",
        8: "malformed JSON",
        9: "out of range: tx_amount must be from 0.0 to 1000000000.0",
        11: "wrong type: customer_id must be an integer",
    }


def test_an_id_published_on_an_earlier_day_is_quarantined_naming_that_day(tmp_path):
    import pandas as pd

    zone = _land(tmp_path, [json.dumps(GOOD), json.dumps(GOOD | {"transaction_id": 7})])
    published = pd.Series(["2018-03-30"], index=[7], dtype=object)
    result = ingest_transactions(zone, "2018-04-01", customers=[1], terminals=[2], published=published)
    assert result.accepted["transaction_id"].tolist() == [1]
    assert result.quarantined["reason"].tolist() == ["duplicate transaction_id: published on 2018-03-30"]
