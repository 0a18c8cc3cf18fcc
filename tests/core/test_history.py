"""A copy's summary (core/history.py): the flags a new event gets, the bounded window of
earlier hits, and its stored form."""

from __future__ import annotations

from mailbeacon.core.analytics.classes import BITS
from mailbeacon.core.history import MAX_LINKS, MAX_TRAPS, WINDOW, CopyHistory, Flags


def test_flags_follow_what_the_copy_has_seen() -> None:
    history = CopyHistory()
    prefetch = history.record(True, "privacy_proxy", False)
    assert prefetch == Flags(None, True, False, BITS["privacy"] | BITS["observed"])
    person = history.record(True, "genuine", True)
    assert person == Flags(True, False, True, BITS["human"])
    again = history.record(True, "genuine", True)
    assert again == Flags(False, False, False, 0)
    click = history.record(False, "genuine", True)
    assert click == Flags(True, True, False, BITS["human"] | BITS["observed"])
    assert history.hits == 4


def test_the_window_keeps_each_links_latest_click_and_forgets_old_hits() -> None:
    history = CopyHistory()
    history.remember([(1_000, "click", 0, None, "a"), (2_000, "click", 0, None, "a")])
    history.remember([(3_000, "honeypot", 0, "192.0.2.1", "bot"), (3_500, "open", 0, None, "a")])
    assert history.link_at == {0: 2_000}
    assert [(hit.kind, hit.link_index) for hit in history.context()] == [
        ("click", 0),
        ("honeypot", None),
    ]
    history.remember([(3_000 + WINDOW, "click", 1, None, "a")])
    assert history.link_at == {1: 3_000 + WINDOW}
    assert history.traps == [(3_000, "192.0.2.1", "bot")]


def test_the_window_is_bounded_however_many_hits() -> None:
    history = CopyHistory()
    history.remember((n, "click", n, None, "a") for n in range(MAX_LINKS * 3))
    history.remember((n, "honeypot", 0, "192.0.2.1", "bot") for n in range(100))
    assert len(history.link_at) == MAX_LINKS
    assert min(history.link_at.values()) == MAX_LINKS * 2  # the most recent ones stay
    assert len(history.traps) == MAX_TRAPS


def test_the_stored_form_reads_back_the_same() -> None:
    history = CopyHistory(5, 7, 12)
    history.remember([(10, "click", 3, None, "a"), (11, "honeypot", 0, None, 'say "hi"')])
    back = CopyHistory.stored(history.opens, history.clicks, history.hits, history.window_text())
    assert (back.opens, back.clicks, back.hits) == (5, 7, 12)
    assert (back.link_at, back.traps) == (history.link_at, history.traps)
    assert CopyHistory().window_text() == ""
    assert CopyHistory.stored(1, 2, 3, "").link_at == {}


def test_a_link_counts_a_copy_once_for_people_and_once_for_machines() -> None:
    history = CopyHistory()
    assert history.clicked(3, True, False) == (True, False)
    assert history.clicked(3, True, False) == (False, False)  # the same reader again
    assert history.clicked(3, False, True) == (False, True)  # then a scanner
    assert history.clicked(3, False, False) == (False, False)  # a proxy: neither
    assert history.clicked(0, False, True) == (False, True)
    assert history.clicked(200, True, True) == (True, True)  # a message of many links
    assert history.linked_text() == f"{(1 << 200) | 8:x}:{(1 << 200) | 9:x}"
    back = CopyHistory.stored(0, 0, 0, "", history.linked_text())
    assert (back.human_links, back.machine_links) == (history.human_links, history.machine_links)
    assert back.clicked(0, False, True) == (False, False)  # read back, it remembers
    assert CopyHistory().linked_text() == ""
    assert CopyHistory.stored(0, 0, 0, "", "").human_links == 0
    assert CopyHistory.stored(0, 0, 0, "", "0:4").machine_links == 4
