"""The scoring log's lines: one JSON object per transaction, whatever its strings hold, in one file per day and
flush."""

from datetime import datetime

import numpy as np
import orjson
import pytest

from mlplatform.scoring_log import BY_COLUMN, ScoringLog, Value, json_lines
from mlplatform.sources.ingest import ingest_scoring_logs
from mlplatform.sources.landing import open_landing_zone

TRICKY = '},{"request_id":"x"}\n{"request_id": 100% "quoted", \\ back","a\\'  # ends in a backslash
TIMES = ["2018-05-10T23:59:59", "2018-05-11T00:00:00.000001", "2018-05-10T08:00:00.500000"]


def fields(repeat: int) -> dict[str, Value]:
    return {
        "request_id": ["r-0", TRICKY, "r-%s"] * repeat,
        "received_at": TRICKY,
        "transaction_id": np.tile(np.array([1, 2**62, 0], dtype=np.int64), repeat),
        "tx_datetime": np.tile(np.array(TIMES, dtype="datetime64[us]"), repeat),
        "features": {
            "count": np.tile(np.array([3, 0, 7]), repeat),
            "mean %d": np.tile(np.array([1.5, np.nan, 1e-5]), repeat),
            "k": 2,
        },
        "score": np.tile(np.array([0.1, 0.25, 1.0]), repeat),
        # A JSON array a line: each 2D array's row in turn (one without columns adds nothing).
        "values": (
            np.tile(np.array([[1, -2], [0, 0], [2**53, 9]]), (repeat, 1)),
            np.zeros((3 * repeat, 0)),
            np.tile(np.array([[0.5], [np.nan], [1e300]]), (repeat, 1)),
        ),
        "latency_ms": 1.25,
    }


def test_json_lines_hold_constants_columns_and_nested_objects_as_json_does():
    lines = json_lines(fields(1))
    # Many lines are built a column at a time, a few a record at a time: the same text.
    assert json_lines(fields(BY_COLUMN)) == lines * BY_COLUMN
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert [orjson.loads(line) for line in lines] == [
        {
            "request_id": "r-0",
            "received_at": TRICKY,
            "transaction_id": 1,
            "tx_datetime": "2018-05-10T23:59:59",
            "features": {"count": 3, "mean %d": 1.5, "k": 2},
            "score": 0.1,
            "values": [1, -2, 0.5],
            "latency_ms": 1.25,
        },
        {
            "request_id": TRICKY,
            "received_at": TRICKY,
            "transaction_id": 2**62,
            "tx_datetime": "2018-05-11T00:00:00.000001",
            "features": {"count": 0, "mean %d": None, "k": 2},
            "score": 0.25,
            "values": [0, 0, None],
            "latency_ms": 1.25,
        },
        {
            "request_id": "r-%s",
            "received_at": TRICKY,
            "transaction_id": 0,
            "tx_datetime": "2018-05-10T08:00:00.500000",
            "features": {"count": 7, "mean %d": 1e-5, "k": 2},
            "score": 1.0,
            "values": [2**53, 9, 1e300],
            "latency_ms": 1.25,
        },
    ]
    # The times as datetime.isoformat writes them.
    assert [orjson.loads(line)["tx_datetime"] for line in lines] == [
        datetime.fromisoformat(t).isoformat() for t in TIMES
    ]
    assert json_lines({"a": np.zeros(0), "b": "constant"}) == []
    with pytest.raises(ValueError, match="a value a line"):
        json_lines({"a": "constant"})
    # A nested object of constants before the field that has a value a line.
    nested_first = json_lines({"meta": {"k": 1}, "id": np.arange(BY_COLUMN)})
    assert nested_first[-1] == '{"meta":{"k":1},"id":' + str(BY_COLUMN - 1) + "}"
    with pytest.raises(TypeError, match="a list"):
        json_lines({"name": np.array(["a,b"] * BY_COLUMN)})
    with pytest.raises(TypeError, match="a list"):
        json_lines({"names": (np.array([["a,b"]] * BY_COLUMN),)})
    assert json_lines({"id": np.arange(BY_COLUMN), "values": (np.zeros((BY_COLUMN, 0)),)})[0] == '{"id":0,"values":[]}'


def test_each_line_is_in_its_transactions_days_file_one_file_per_day_and_flush(tmp_path):
    zone = open_landing_zone(str(tmp_path), None)
    log = ScoringLog(zone, flush_seconds=3600, writer="w", header={"feature_names": ["a", "b"]})
    us = np.array(["2018-05-10T23:59:59", "2018-05-11T00:00:00", "2018-05-10T08:00:00"], dtype="datetime64[us]")
    log.append(us[:2].view(np.int64), {"request_id": ["r-0", "r-1"], "model_version": TRICKY})
    log.append(us[2:].view(np.int64), {"request_id": ["r-2"], "model_version": TRICKY})
    log.append(np.zeros(0, dtype=np.int64), {"request_id": [], "model_version": TRICKY})
    keys = log.flush()
    assert keys == [
        "scoring_logs/date=2018-05-10/part-w-000001.ndjson",
        "scoring_logs/date=2018-05-11/part-w-000002.ndjson",
    ]
    files = {key: [orjson.loads(line) for line in zone.get(key).splitlines()] for key in keys}
    assert all(lines[0] == {"feature_names": ["a", "b"]} for lines in files.values())  # each file's header
    written = {key: [line["request_id"] for line in lines[1:]] for key, lines in files.items()}
    assert written == {keys[0]: ["r-0", "r-2"], keys[1]: ["r-1"]}
    assert zone.get(keys[0]).endswith(b"}\n")
    log.close()


def test_raw_scoring_logs_name_the_features_by_the_files_header_and_quarantine_what_does_not_fit(tmp_path):
    zone = open_landing_zone(str(tmp_path), None)
    record = {
        "request_id": "r-1",
        "received_at": "2018-05-10T10:00:00",
        "transaction_id": 1,
        "tx_datetime": "2018-05-10T09:59:59",
        "customer_id": 3,
        "terminal_id": 4,
        "tx_amount": 12.5,
        "score": 0.25,
        "model_version": "2",
        "latency_ms": 1.5,
    }

    def lines(*records: object) -> bytes:
        return b"".join(orjson.dumps(r) + b"\n" for r in records)

    folder = "scoring_logs/date=2018-05-10"
    header = {"feature_names": ["count", "mean"]}
    zone.put(
        f"{folder}/part-a-000001.ndjson",
        lines(header, {**record, "features": [3, 1.5]}, {**record, "request_id": "r-2", "features": [3]}),
    )
    # The earlier layout: no header, the names on every line.
    zone.put(f"{folder}/part-b-000001.ndjson", lines({**record, "request_id": "r-3", "features": {"count": 4}}))
    # Arrays without a header to name them.
    zone.put(f"{folder}/part-c-000001.ndjson", lines({**record, "request_id": "r-4", "features": [1, 2.0]}))
    result = ingest_scoring_logs(zone, "2018-05-10")
    assert result.accepted["request_id"].tolist() == ["r-1", "r-3"]
    assert [orjson.loads(f) for f in result.accepted["features"]] == [{"count": 3, "mean": 1.5}, {"count": 4}]
    assert result.quarantined["reason"].tolist() == ["wrong type: features must be a JSON object"] * 2
    origins = [f"{folder}/part-a-000001.ndjson:3", f"{folder}/part-c-000001.ndjson:1"]
    assert result.quarantined["origin"].tolist() == origins
    assert orjson.loads(result.quarantined["record"][0])["features"] == [3]  # kept as it came
