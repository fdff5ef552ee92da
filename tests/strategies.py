"""Shared hypothesis strategies."""

from __future__ import annotations

import datetime
import unicodedata

from hypothesis import strategies as st

from ledger.entry import Entry, format_timestamp

nfc_text = (
    st.text(min_size=1, max_size=40)
    .map(lambda s: unicodedata.normalize("NFC", s))
    .filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    moment = draw(
        st.datetimes(
            min_value=datetime.datetime(2000, 1, 1),
            max_value=datetime.datetime(2999, 1, 1),
            timezones=st.just(datetime.UTC),
        )
    )
    return Entry(
        actor=draw(nfc_text),
        at=format_timestamp(moment),
        kid=draw(st.from_regex(r"k[0-9]{1,4}", fullmatch=True)),
        payload_sha256=draw(st.binary(min_size=32, max_size=32)).hex(),
        stream=str(draw(st.uuids())),
        type=draw(
            st.from_regex(r"[a-z]{2,10}\.[A-Z][a-zA-Z]{1,12}\.[A-Z][a-zA-Z]{1,12}", fullmatch=True)
        ),
        version=draw(st.integers(min_value=1, max_value=2**53)),
    )
