"""The patterns over a copy's hits (bursts, every link, the honeypot's company) find what
their definitions say, for any trace: classify sweeps the hits in time order instead of
comparing every pair, and these tests hold the sweep to the pairwise definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from mailbeacon.core.verdicts.classify import (
    ALL_LINKS_WINDOW,
    BURST_WINDOW,
    HONEYPOT_WINDOW,
    Hit,
    classify,
)

SENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HONEYPOT_COMPANY = "the same client followed the hidden honeypot link moments apart"
CLIENTS = [("192.0.2.0", "curl/8.5.0"), ("192.0.2.0", ""), ("198.51.100.0", "curl/8.5.0")]

# Milliseconds after sending: most within a few seconds of each other (bursts, ties on the
# windows' edges), some minutes apart (every link within two minutes, and not).
moments = st.one_of(
    st.integers(0, 4_000),
    st.sampled_from([0, 1_500, 3_000, 5_000, 120_000]),
    st.integers(0, 400_000),
)
hits = st.builds(
    lambda kind, ms, link, client, timed: Hit(
        kind,
        user_agent=client[1],
        at=SENT + timedelta(milliseconds=ms) if timed else None,
        link_index=link if kind == "click" else None,
        ip=client[0],
    ),
    st.sampled_from(["click", "click", "click", "open", "honeypot"]),
    moments,
    st.integers(0, 4),
    st.sampled_from(CLIENTS),
    st.sampled_from([True, True, True, False]),  # a hit without a time takes no part
)


def _clicks(trace: list[Hit]) -> list[Hit]:
    return [h for h in trace if h.kind == "click" and h.at is not None]


def _distinct_near(trace: list[Hit], hit: Hit, window: timedelta) -> int:
    """The definition, pair by pair: distinct links clicked within ``window`` of ``hit``."""
    assert hit.at is not None
    return len(
        {c.link_index for c in _clicks(trace) if c.at is not None and abs(c.at - hit.at) <= window}
    )


def _click(seconds: float, link: int) -> Hit:
    return Hit("click", at=SENT + timedelta(seconds=seconds), link_index=link)


@given(st.lists(hits, max_size=40), st.lists(hits, max_size=12), st.sampled_from([None, 3, 5]))
@example([_click(0, 0), _click(1.5, 1)], [], None)  # both windows hold their edges
@example([_click(0, 0), _click(60, 1), _click(120, 2)], [], 3)
@example([_click(5, 0)], [Hit("honeypot", at=SENT)], None)
def test_each_pattern_fires_exactly_where_its_definition_says(
    new: list[Hit], context: list[Hit], link_count: int | None
) -> None:
    verdicts = classify(new, link_count=link_count, context=context)
    everything = [*context, *new]
    traps = [h for h in everything if h.kind == "honeypot" and h.at is not None]
    for hit, verdict in zip(new, verdicts, strict=True):
        details = set(verdict.details)
        clicked = hit.kind == "click" and hit.at is not None
        burst = _distinct_near(everything, hit, BURST_WINDOW) if clicked else 0
        expected_burst = {f"{burst} different links clicked within 1.5 s"} if burst >= 2 else set()
        assert {d for d in details if "different links" in d} == expected_burst
        every = clicked and bool(link_count) and link_count is not None
        every = every and _distinct_near(everything, hit, ALL_LINKS_WINDOW) >= (link_count or 0)
        assert (f"all {link_count} links clicked within 120 s" in details) == every
        company = (
            hit.kind != "honeypot"
            and hit.at is not None
            and any(
                (t.ip, t.user_agent) == (hit.ip, hit.user_agent)
                and t.at is not None
                and abs(t.at - hit.at) <= HONEYPOT_WINDOW
                for t in traps
            )
        )
        assert (HONEYPOT_COMPANY in details) == company


def test_a_bot_looping_on_a_copy_costs_its_hits_not_their_square() -> None:
    """20,000 clicks over a copy's 20 links, 20 a millisecond apart: every one a burst over
    every link, judged in one call (pairwise, 400 million comparisons)."""
    trace = [
        Hit("click", at=SENT + timedelta(microseconds=50 * n), link_index=n % 20)
        for n in range(20_000)
    ]
    verdicts = classify(trace, link_count=20)
    assert {v.details[-2:] for v in verdicts} == {
        ("20 different links clicked within 1.5 s", "all 20 links clicked within 120 s")
    }
