"""The scoring log's lines: one JSON object per record, whatever its strings hold, in one file per day and flush."""

import orjson

from mlplatform.scoring_log import ScoringLog
from mlplatform.sources.landing import open_landing_zone


def test_each_record_is_one_line_in_its_days_file_even_when_a_string_looks_like_a_record_boundary(tmp_path):
    zone = open_landing_zone(str(tmp_path), None)
    log = ScoringLog(zone, flush_seconds=3600, writer="w")
    tricky = '},{"request_id":"x"}\n{"request_id":'
    records = [
        {"request_id": "r-0", "tx_datetime": "2018-05-10T23:59:59", "model_version": tricky, "features": {"a": 1.5}},
        {"request_id": "r-1", "tx_datetime": "2018-05-11T00:00:00", "model_version": "7", "features": {}},
        {"request_id": "r-2", "tx_datetime": "2018-05-10T08:00:00", "model_version": "7", "features": {"a": 2}},
    ]
    log.extend(records[:2])
    log.extend(records[2:])
    log.extend([])
    keys = log.flush()
    assert keys == [
        "scoring_logs/date=2018-05-10/part-w-000001.ndjson",
        "scoring_logs/date=2018-05-11/part-w-000002.ndjson",
    ]
    lines = {key: zone.get(key).decode().splitlines() for key in keys}
    assert [orjson.loads(line) for line in lines[keys[0]]] == [records[0], records[2]]
    assert [orjson.loads(line) for line in lines[keys[1]]] == [records[1]]
    log.close()
