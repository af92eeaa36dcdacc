"""Thousands of generated records, hostile and valid, through ingestion: nothing crashes, nothing is lost,
ids and amounts come through exactly (Hypothesis)."""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlplatform.sources.ingest import ingest_transactions
from mlplatform.sources.landing import LocalLandingZone

DAY = "2018-04-01"
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
times = st.one_of(
    st.sampled_from(["2018-04-01T10:00:00", "2018-04-01 23:59:59.5", "2018-04-01T00:00:00.123456789"]),
    st.sampled_from(["2018-04-01T10:00:00Z", "2018-04-01T10:00:00+05:30", "9999-12-31T00:00:00", "0001-01-01"]),
    st.sampled_from(["2018-04-02T00:00:00", "yesterday", "", "2018-13-45T99:99:99"]),
    numbers,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "transaction_id": numbers,
        "tx_datetime": times,
        "customer_id": st.one_of(st.just(1), numbers),
        "terminal_id": st.one_of(st.just(2), numbers),
        "tx_amount": numbers,
        "note": st.text(alphabet=st.characters(codec="utf-8"), max_size=8),  # U+2028 and friends included
    },
)
lines = st.one_of(
    records.map(lambda r: json.dumps(r, allow_nan=True)),
    st.sampled_from(["null", "[1, 2]", '"text"', "{", "{}", "1e999", '{"transaction_id": NaN}']),
    st.text(max_size=20).filter(lambda t: "\n" not in t),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(lines, min_size=1, max_size=25), min_size=1, max_size=3))
@example(files=[["\x1f"], ["\u2028{}", "  "]])  # a control character alone is a (bad) record; spaces are blank
@example(files=[['{"tx_datetime": "9999-12-31T00:00:00"}']])  # the Arrow path once cast year 9999 to ns
def test_generated_records_never_crash_and_are_all_accounted_for(tmp_path_factory, files):
    zone = LocalLandingZone(tmp_path_factory.mktemp("zone"))
    sent: dict[str, str] = {}
    for i, file_lines in enumerate(files):
        key = f"transactions/date={DAY}/part-{i:02d}.ndjson"
        zone.put(key, "\n".join(file_lines).encode())
        # A blank line holds only ASCII whitespace, as in JSON; any other line is a record, good or bad.
        sent |= {f"{key}:{n}": line for n, line in enumerate(file_lines, 1) if line.encode().strip()}

    result = ingest_transactions(zone, DAY, customers=[1], terminals=[2])

    assert result.rows_in == len(sent)  # in = accepted + quarantined, to the record
    assert result.quarantined["reason"].str.len().gt(0).all()
    assert set(result.quarantined["origin"]) <= set(sent)  # each names its file and line
    originals = [json.loads(line) for origin, line in sent.items() if origin not in set(result.quarantined["origin"])]
    assert len(originals) == len(result.accepted)
    # What is accepted is exactly what was sent: integer ids never pass through floating point.
    assert sorted(result.accepted["transaction_id"].tolist()) == sorted(r["transaction_id"] for r in originals)
    assert sorted(result.accepted["tx_amount"].tolist()) == sorted(float(r["tx_amount"]) for r in originals)
    assert result.accepted["transaction_id"].is_unique
