"""The scoring log's lines: one JSON object per transaction, whatever its strings hold, in one file per day and
flush."""

from datetime import datetime

import numpy as np
import orjson
import pytest

from mlplatform.scoring_log import BY_COLUMN, ScoringLog, Value, json_lines
from mlplatform.sources.landing import open_landing_zone

TRICKY = '},{"request_id":"x"}\n{"request_id": 100% "quoted", \\ back'
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
            "latency_ms": 1.25,
        },
        {
            "request_id": TRICKY,
            "received_at": TRICKY,
            "transaction_id": 2**62,
            "tx_datetime": "2018-05-11T00:00:00.000001",
            "features": {"count": 0, "mean %d": None, "k": 2},
            "score": 0.25,
            "latency_ms": 1.25,
        },
        {
            "request_id": "r-%s",
            "received_at": TRICKY,
            "transaction_id": 0,
            "tx_datetime": "2018-05-10T08:00:00.500000",
            "features": {"count": 7, "mean %d": 1e-5, "k": 2},
            "score": 1.0,
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


def test_each_line_is_in_its_transactions_days_file_one_file_per_day_and_flush(tmp_path):
    zone = open_landing_zone(str(tmp_path), None)
    log = ScoringLog(zone, flush_seconds=3600, writer="w")
    us = np.array(["2018-05-10T23:59:59", "2018-05-11T00:00:00", "2018-05-10T08:00:00"], dtype="datetime64[us]")
    log.append(us[:2].view(np.int64), {"request_id": ["r-0", "r-1"], "model_version": TRICKY})
    log.append(us[2:].view(np.int64), {"request_id": ["r-2"], "model_version": TRICKY})
    log.append(np.zeros(0, dtype=np.int64), {"request_id": [], "model_version": TRICKY})
    keys = log.flush()
    assert keys == [
        "scoring_logs/date=2018-05-10/part-w-000001.ndjson",
        "scoring_logs/date=2018-05-11/part-w-000002.ndjson",
    ]
    written = {key: [orjson.loads(line)["request_id"] for line in zone.get(key).decode().splitlines()] for key in keys}
    assert written == {keys[0]: ["r-0", "r-2"], keys[1]: ["r-1"]}
    assert zone.get(keys[0]).endswith(b"}\n")
    log.close()
