"""`store.recent`: what the meter-event routes keep of what they read, for how long, and when a
change in this process makes it forget (hand-set clock; no AWS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tally import settings
from tally.store import recent

A, B = "acct_a", "acct_b"
KEY, WATCH, OTHER = ("acct_a#k", "o"), ("acct_a#u", "alerts#m"), ("acct_a#c", "o")


class _Clock:
    now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Clock]:
    fake = _Clock()
    monkeypatch.setattr(recent, "time", fake)
    monkeypatch.delenv("TALLY_INGEST_CACHE_SECONDS", raising=False)
    settings.reset()
    recent.clear()
    yield fake
    recent.clear()
    settings.reset()


def _item(name: str) -> Any:
    return name  # what is kept is handed back as is


def test_found_items_and_kept_absences_answer_until_the_seconds_pass(clock: _Clock) -> None:
    # GIVEN a read that found KEY and not WATCH (kept absent), and not OTHER (not kept)
    recent.keep(A, recent.generation(A), {KEY: _item("key")}, absent=[WATCH])
    # WHEN asked within the second THEN KEY and WATCH (None) answer, OTHER is to be read
    assert recent.fresh(A, [KEY, WATCH, OTHER]) == ({KEY: "key", WATCH: None}, [OTHER])
    # WHEN the second has passed THEN everything is to be read
    clock.now += 1.0
    assert recent.fresh(A, [KEY, WATCH]) == ({}, [KEY, WATCH])


def test_a_change_forgets_the_account_only(clock: _Clock) -> None:
    recent.keep(A, recent.generation(A), {KEY: _item("a")})
    recent.keep(B, recent.generation(B), {KEY: _item("b")})
    recent.forget(A)
    assert recent.fresh(A, [KEY]) == ({}, [KEY])
    assert recent.fresh(B, [KEY]) == ({KEY: "b"}, [])


def test_a_read_that_a_change_overtook_is_not_kept(clock: _Clock) -> None:
    # GIVEN a read that started before this process changed the account
    read_at = recent.generation(A)
    recent.forget(A)
    # WHEN its result arrives THEN it is not kept (it may predate the change)
    recent.keep(A, read_at, {KEY: _item("old")})
    assert recent.fresh(A, [KEY]) == ({}, [KEY])


def test_zero_seconds_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_INGEST_CACHE_SECONDS", "0")
    settings.reset()
    recent.keep(A, recent.generation(A), {KEY: _item("key")}, absent=[WATCH])
    assert recent.fresh(A, [KEY, WATCH]) == ({}, [KEY, WATCH])


def test_past_the_limit_everything_kept_is_dropped(clock: _Clock) -> None:
    many = {(f"acct_a#{i}", "o"): _item(str(i)) for i in range(recent.MAX_ITEMS)}
    recent.keep(A, recent.generation(A), many)
    assert len(recent.fresh(A, list(many))[0]) == recent.MAX_ITEMS
    recent.keep(B, recent.generation(B), {KEY: _item("b")})  # one more: over the limit
    assert recent.fresh(A, list(many))[0] == {}
    assert recent.fresh(B, [KEY]) == ({KEY: "b"}, [])


@pytest.mark.parametrize("text", ["abc", "-1", "61", "nan", "inf", ""])
def test_a_bad_setting_is_a_startup_error_that_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("TALLY_INGEST_CACHE_SECONDS", text)
    with pytest.raises(ValueError, match="TALLY_INGEST_CACHE_SECONDS must be a number of seconds from 0"):
        settings.Settings.from_env()


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("1", 1.0), ("2.5", 2.5), ("60", 60.0)])
def test_the_setting_takes_seconds(monkeypatch: pytest.MonkeyPatch, text: str, seconds: float) -> None:
    monkeypatch.setenv("TALLY_INGEST_CACHE_SECONDS", text)
    assert settings.Settings.from_env().ingest_cache_seconds == seconds
