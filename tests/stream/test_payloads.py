"""The consumer's payload parsing: the plain form producers write is read by one regular expression, everything
else through JSON; both must decide every payload the same way."""

import json

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlplatform.stream.consumer import Event, Malformed, Watermark, parse_event, parse_payload

PLAIN = (
    b'{"transaction_id":7,"tx_datetime":"2018-04-01T00:00:31","customer_id":596,"terminal_id":3156,"tx_amount":57.16}'
)


def payload(**fields: object) -> bytes:
    event = {"transaction_id": 7, "tx_datetime": "2018-04-01T00:00:31", "customer_id": 596, "terminal_id": 3156}
    return json.dumps({**event, "tx_amount": 57.16, **fields}, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (PLAIN, Event(7, "2018-04-01T00:00:31", 596, 3156, 57.16)),
        (payload(transaction_id=2**63 - 1), Event(2**63 - 1, "2018-04-01T00:00:31", 596, 3156, 57.16)),
        (payload(customer_id=-(2**63)), Event(7, "2018-04-01T00:00:31", -(2**63), 3156, 57.16)),
        (payload(tx_amount=12), Event(7, "2018-04-01T00:00:31", 596, 3156, 12.0)),
        # Not the plain form, still an event: spaces, another order of keys.
        (
            b'{ "tx_amount": 1.5, "terminal_id": 2, "customer_id": 1, "tx_datetime": "2018-04-01T10:00:00", '
            b'"transaction_id": 3 }',
            Event(3, "2018-04-01T10:00:00", 1, 2, 1.5),
        ),
        (payload(transaction_id=2**63), Malformed("transaction_id is not a 64-bit integer", "2018-04-01")),
        (payload(terminal_id=2**64), Malformed("terminal_id is not a 64-bit integer", "2018-04-01")),
        (payload(tx_datetime="2018-02-30T00:00:00"), Malformed("tx_datetime is not a valid time", "2018-02-30")),
        (payload(tx_datetime="2018-04-01T24:00:00"), Malformed("tx_datetime is not a valid time", "2018-04-01")),
        (payload(tx_datetime="2018-04-01 00:00:31"), Malformed("tx_datetime is not YYYY-MM-DDTHH:MM:SS", "2018-04-01")),
        (PLAIN.replace(b"57.16", b"1e400"), Malformed("not JSON", None)),
        (PLAIN.replace(b":7,", b":007,"), Malformed("not JSON", None)),
        (PLAIN.replace(b"57.16", b'"57.16"'), Malformed("tx_amount is not a finite number", "2018-04-01")),
        (payload(extra=1), Malformed("unexpected extra", "2018-04-01")),
        (b'{"watermark":"2018-04-02T00:00:00"}', Watermark("2018-04-02T00:00:00")),
    ],
)
def test_payloads_are_decided_as_specified(raw, expected):
    assert parse_payload(raw) == expected


def by_json(raw: bytes) -> Event | str:
    """The reference: JSON, then `parse_event`'s checks."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "not JSON"
    return parse_event(obj)


ints = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.integers(-(2**70), 2**70), st.sampled_from([0, 2**63, -(2**63) - 1])
)
stamps = st.one_of(
    st.datetimes().map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S")),
    st.from_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", fullmatch=True),
)
# Amounts as written in the payload (including JSON's spellings of the same number).
amounts = st.one_of(
    st.sampled_from(["-0", "-0.0", "0.0", "00", "1E2", "1e400", "0.1000000000000000055511151231257827"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**20), 10**20),
    st.decimals(0, 10**6, places=2),
)


@settings(max_examples=500, deadline=None)
@given(tid=ints, stamp=stamps, customer=ints, terminal=ints, amount=amounts)
@example(tid=0, stamp="2018-04-01T00:00:31", customer=1, terminal=2, amount="-0")
@example(tid=-0, stamp="2020-02-29T23:59:59", customer=1, terminal=2, amount=999999999999999)
def test_the_plain_form_is_decided_as_json_decides_it(tid, stamp, customer, terminal, amount):
    raw = b'{"transaction_id":%d,"tx_datetime":"%s","customer_id":%d,"terminal_id":%d,"tx_amount":%s}' % (
        tid,
        stamp.encode(),
        customer,
        terminal,
        str(amount).encode(),
    )
    decided, reference = parse_payload(raw), by_json(raw)
    if isinstance(reference, str):
        assert isinstance(decided, Malformed) and decided.reason == reference
    else:
        assert decided == reference and str(decided.tx_amount) == str(reference.tx_amount)  # -0.0 is not 0.0
