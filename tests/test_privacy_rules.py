"""The pure privacy rules, on hand-computed cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradvy_console.analytics.privacy import (
    consent_at,
    consent_expired,
    consent_row,
    luhn_ok,
    pii_counts,
    retention_cutoff,
    scrub_value,
    seal,
    subject_key,
    terms_for,
    unseal,
)

KEY = b"k" * 32


def test_terms_match_whole_identifiers_only() -> None:
    terms = terms_for(["u7", "sim-u00003"])
    assert terms.in_text('{"user_id": "u7"}')
    assert terms.in_text("erase sim-u00003 now")
    assert not terms.in_text('{"user_id": "u77"}')
    assert not terms.in_text("xu7")
    assert not terms.in_text("sim-u000031")
    assert terms.in_text("u7.")          # end of a sentence
    # Raw byte search (database files) counts every occurrence, even inside other bytes, of
    # ids long enough to mean something there (u7 is in any binary file by chance).
    long = terms_for(["sim-u00003"])
    assert long.count_raw(b"..sim-u00003course..sim-u000031") == 2
    assert terms_for(["u7"]).raw is None and terms_for(["u7"]).count_raw(b"u7") == 0


@given(st.lists(st.text(alphabet="abcu0123456789-_", min_size=1, max_size=10), min_size=1,
                max_size=30, unique=True))
def test_trie_finds_each_word_like_a_plain_search(words: list[str]) -> None:
    terms = terms_for(words)
    for word in words:
        assert terms.in_text(f" {word} ")
        assert terms.count_raw(word.encode()) >= (1 if len(word) >= 6 else 0)


def test_json_escaped_ids_are_found() -> None:
    terms = terms_for(['a"b'])
    assert terms.in_bytes(b'{"user_id": "a\\"b"}')


def test_scrub_value_replaces_in_keys_and_strings() -> None:
    terms = terms_for(["u7"])
    doc = {"params": {"user_id": "u7", "note": "asked by u7 and u77"}, "u7": 1, "n": 7}
    clean, n = scrub_value(doc, terms, "erased:s-1")
    assert clean == {"params": {"user_id": "erased:s-1", "note": "asked by erased:s-1 and u77"},
                     "erased:s-1": 1, "n": 7}
    assert n == 3


def test_subject_key_is_keyed_and_distinct_from_the_pseudonym() -> None:
    from gradvy_console.analytics.events import pseudonym

    a = subject_key("u7", KEY)
    assert a == subject_key("u7", KEY) and a.startswith("s-") and len(a) == 34
    assert a != subject_key("u7", b"x" * 32) and a != subject_key("u8", KEY)
    assert a[2:26] != pseudonym("u7", KEY)[2:]


def test_seal_round_trip_and_tamper() -> None:
    sealed = seal("sim-u00003", KEY, "er-1")
    assert "sim-u00003" not in sealed
    assert unseal(sealed, KEY, "er-1") == "sim-u00003"
    assert unseal(sealed, KEY, "er-2") is None
    assert unseal(sealed, b"y" * 32, "er-1") is None
    body, tag = sealed.split(".")
    assert unseal(("00" if body[:2] != "00" else "11") + body[2:] + "." + tag, KEY, "er-1") is None


def _ms(value: object) -> int:
    return int(str(value))


def test_consent_row_validation() -> None:
    purposes = ["analytics", "marketing"]
    row = consent_row({"user_id": " u1 ", "granted": "analytics;marketing", "revoked": "",
                       "method": "form", "notice_version": 3, "legal_basis": "consent",
                       "time": "5"}, purposes, _ms, 0)
    assert row.user_id == "u1" and row.changes == {"analytics": True, "marketing": True}
    assert row.version == "3" and row.at_ms == 5
    with pytest.raises(ValueError, match="unknown purpose 'x'"):
        consent_row({"user_id": "u1", "granted": ["x"], "method": "f", "notice_version": "1",
                     "legal_basis": "c"}, purposes, _ms, 0)
    with pytest.raises(ValueError, match="both granted and revoked"):
        consent_row({"user_id": "u1", "granted": "analytics", "revoked": "analytics",
                     "method": "f", "notice_version": "1", "legal_basis": "c"}, purposes, _ms, 0)
    with pytest.raises(ValueError, match="legal_basis is missing"):
        consent_row({"user_id": "u1", "granted": "analytics", "method": "f",
                     "notice_version": "1"}, purposes, _ms, 0)
    with pytest.raises(ValueError, match="user_id is missing"):
        consent_row({"granted": "analytics"}, purposes, _ms, 0)


def test_consent_at_a_time() -> None:
    history = [{"purpose": "analytics", "granted": True, "at_ms": 10},
               {"purpose": "analytics", "granted": False, "at_ms": 20},
               {"purpose": "marketing", "granted": True, "at_ms": 0}]
    assert not consent_at(history, "analytics", 5)
    assert consent_at(history, "analytics", 10) and consent_at(history, "analytics", 19)
    assert not consent_at(history, "analytics", 20)
    assert consent_expired(0, 1.0, 86_400_001) and not consent_expired(0, 1.0, 86_400_000)
    assert not consent_expired(0, 0.0, 10**15)


def test_retention_cutoff() -> None:
    assert retention_cutoff(10 * 86_400_000, 3) == 7 * 86_400_000
    assert retention_cutoff(86_400_000, 0.5) == 43_200_000


def test_pii_counts_by_kind() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    text = ("mail jane.doe@example.com or call +44 20 7946 0958 from 192.168.1.20, "
            "card 4111 1111 1111 1111")
    assert pii_counts(text) == {"email": 1, "phone": 1, "ip": 1, "card": 1}
    assert pii_counts("course c0042, score 7 of 10") == {}
