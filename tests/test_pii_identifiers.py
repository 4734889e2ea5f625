"""Identifiers and property keys that carry an e-mail address or phone number are stored as
pseudonyms (or rejected, by config); a plain numeric id is left alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from gradvy_console.analytics.events import (
    PII_IN_IDENTIFIER,
    Event,
    Limits,
    Rejection,
    identifier_has_pii,
    normalise_event,
    pseudonym,
)
from gradvy_console.config import Config
from gradvy_console.ingest import Ingestor
from gradvy_console.live.sqlite import SqliteLive
from gradvy_console.pipeline import user_report
from gradvy_console.privacy import change_consent
from gradvy_console.store.sqlite import SqliteStore

NOW = 1_767_225_600_000
KEY = b"p" * 32
EMAIL = "jane.doe@example.org"


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event_id": "e1", "user_id": "u1", "event_type": "search",
                            "timestamp": "2025-12-31T10:00:00Z",
                            "properties": {"query": "python"}}
    return {**base, **changes}


@pytest.mark.parametrize(("value", "pii"), [
    (EMAIL, True), ("+44 20 7946 0958", True), ("020-7946-0958", True),
    ("sim-u00106", False), ("1000234567", False), ("c0042", False), ("2025-12-31", False)])
def test_which_identifiers_carry_pii(value: str, pii: bool) -> None:
    assert identifier_has_pii(value) is pii


def test_pseudonym_is_stable_keyed_and_irreversible_by_eye() -> None:
    assert pseudonym(EMAIL, KEY) == pseudonym(EMAIL, KEY)
    assert pseudonym(EMAIL, KEY) != pseudonym(EMAIL, b"q" * 32)
    assert pseudonym(EMAIL, KEY).startswith("p-") and len(pseudonym(EMAIL, KEY)) == 26
    assert "jane" not in pseudonym(EMAIL, KEY)


def test_identifiers_and_keys_are_pseudonymised_by_default() -> None:
    limits = Limits(pii_key=KEY)
    got = normalise_event(event(user_id=EMAIL, session_id="+44 20 7946 0958",
                                properties={"query": "q", EMAIL: 1}), NOW, limits)
    assert isinstance(got, Event)
    assert got.user_id == pseudonym(EMAIL, KEY)
    assert got.session_id == pseudonym("+44 20 7946 0958", KEY)
    assert list(got.properties) == ["query", pseudonym(EMAIL, KEY)]
    assert got.pii_masked == 3
    plain = normalise_event(event(user_id="1000234567"), NOW, limits)
    assert isinstance(plain, Event) and plain.user_id == "1000234567"


def test_reject_mode_dead_letters_without_keeping_the_address(tmp_path: Path) -> None:
    limits = Limits(pii_key=KEY, pii_in_identifiers="reject")
    got = normalise_event(event(user_id=EMAIL), NOW, limits)
    assert isinstance(got, Rejection) and got.reason == PII_IN_IDENTIFIER
    assert got.user_id is None and got.event_id is None
    config = dataclasses.replace(Config(data_dir=tmp_path / "d"), ingest=dataclasses.replace(
        Config().ingest, pii_in_identifiers="reject"))
    store, live = SqliteStore(tmp_path / "s.db"), SqliteLive(tmp_path / "l.db")
    result = Ingestor(store, live, config).ingest([(None, event(user_id=EMAIL))], at_ms=NOW)
    assert result.reasons == {PII_IN_IDENTIFIER: 1}
    assert EMAIL not in str(store.dead_letters())


def test_a_learner_known_by_an_address_is_found_and_consents_by_it(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data")
    store, live = SqliteStore(tmp_path / "s.db"), SqliteLive(tmp_path / "l.db")
    change_consent(config, store, EMAIL, ["analytics", "behavioral_analysis"], [])
    ingestor = Ingestor(store, live, config)
    stamps = [f"2025-12-{d:02d}T10:00:00Z" for d in range(1, 31)]
    result = ingestor.ingest([(None, event(event_id=f"e{i}", user_id=EMAIL, timestamp=s))
                              for i, s in enumerate(stamps)], at_ms=NOW)
    assert result.processed == 30
    report = user_report(config, store, live, EMAIL)
    assert report is not None and report["user_id"].startswith("p-")
    assert report["profile"]["events"] == 30
    # The newest events, newest first (not the last of the oldest).
    assert [e["event_id"] for e in report["recent_events"][:3]] == ["e29", "e28", "e27"]
    assert len(report["recent_events"]) == 20
    assert EMAIL not in str(store.get_user(report["user_id"]))
