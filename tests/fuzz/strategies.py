"""Hypothesis strategies for the fuzz stage: the kinds of bad input issue 11 found."""

from __future__ import annotations

from hypothesis import strategies as st

SURROGATES = st.characters(categories=["Cs"])
ANY_CHAR = st.one_of(st.characters(), SURROGATES, st.sampled_from("\x00\n\r\t\u202e٣３²"))
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.integers(19, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "-" + "1" * n),
    st.sampled_from(
        ["9999-12-31 23:59:59", "0001-01-01 00:00", "+١٤١٥٥٥٥٢٣٤٥", "http://0177.0.0.1/",
         "http://[64:ff9b::7f00:1]/", "http://example.com/\x00", "1e400", "NaN", "-0",
         "http://x.example/\udc80", "a\ud800b", "9" * 5000, str(10**30), "-14155552345",
         "１４１５５５５２３４５", "\x00", "line\nbreak", "http://127.1/", "http://[fec0::1]/"]
    ),
)  # fmt: skip
# The attack's values come first and most often; anything else JSON holds, too.
HOSTILE_VALUE = HOSTILE_TEXT | st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(10**18, 10**60),
        st.floats(allow_nan=True, allow_infinity=True),
        HOSTILE_TEXT,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3),
    max_leaves=8,
)
