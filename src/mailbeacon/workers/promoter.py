"""The promoter: observations become events, each with its verdict, and the counters move.

Observations wait a settle window (MAILBEACON_SETTLE_SECONDS) so that a scanner's burst over
all links is seen whole before its first click is judged. Then, per pass: the settled
observations are grouped by recipient copy and classified together with that copy's earlier
hits (core/verdicts/classify.py) and given their user agent's facts; then, in one
transaction, they are written as ``message.opened`` / ``message.clicked`` events
(``first`` counted over human-countable events only) with their webhook deliveries and daily
counters (service/events.py) and their links' counters (store/link_report.py), and marked
promoted. Each event keeps its observation id
(unique), so a pass that dies half-way is simply done again.

On SQLite the judging happens outside the write transaction: SQLite has one writer at a time,
and whoever writes (the shipper of clicks, the API) waits for whoever holds the lock. The
lock is held only for the writes, about half of a pass; the counters' increments and the
copies' summaries as stored are made before it is taken. That is what lets a pass be large
(:data:`BATCH`: a pass costs per distinct copy and value it touches too) while the others
wait little longer than they did for smaller ones (bench/README.md, the eighth session:
``POST /v1/send`` during a drain, p90 188 ms before, 220 after). A pass judged
from a state another promoter has since changed (a copy's summary, which decides ``first``)
is judged again. PostgreSQL keeps judging inside the transaction that holds the claimed rows
(SKIP LOCKED) and its copies' summaries (locked in copy id order: one pass at a time per
copy, see docs/architecture.md).

A pass costs a fixed number of queries whatever its size (store/promotion.py), and reads one
summary row per copy whatever the copy's volume (core/history.py), so its cost is per
observation: building the hit, judging it (remembered per kind of request, see
core/verdicts/classify.py), and the database's own work of writing the event and marking the
observation. Across passes the promoter remembers only what cannot go stale: a message's
links, which change only through the feed of changed links that every pass follows first
(store/link_changes.py), and the texts of agents and headers. What a
copy has seen is read from its summary every pass, so several promoters see each other's
work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection

from ..clock import Clock
from ..core.events import NO_DATA, Event
from ..core.history import CopyHistory
from ..core.lifecycle.destinations import destination_at
from ..core.verdicts.classify import Classification, Hit, Verdict, classify
from ..core.verdicts.networks import NetworkTable
from ..core.verdicts.useragent import client_facts
from ..service import events
from ..store import link_changes, link_report, promotion, rollups
from ..store import networks as network_store
from ..store.analytics_rollups import Deltas as AnalyticsDeltas
from ..store.db import Database
from ..store.ids import new_ids
from ..store.observations import KIND_CLICK, KIND_HONEYPOT, KIND_NAMES, KIND_OPEN
from ..store.promotion import Observed, StateRow
from . import pause

__all__ = ["Promoter", "promote_settled", "promoter_worker"]

log = logging.getLogger(__name__)

# Observations a pass takes. A pass also costs per distinct thing it touches, whatever its
# size: each copy's summary, each analytics value's two counter rows (a pass of clicks over
# 2,000 distinct links upserts about 4,000), each copy's recent clicks judged again with the
# new ones. On bench/redirect's hits (500 copies, 2,000 links) that came to about 96 ms a
# pass: 32.2 us a hit in passes of 10,000, 28.3 in passes of 15,000, 27.4 in passes of
# 20,000. A pass holds SQLite's write lock for its writes, which the API's writers wait for:
# 170, 229 and 300 ms (medians) with the counters' increments made before the lock, 203 ms
# for passes of 10,000 when they were made under it. 15,000 is most of the gain for a lock
# held a little longer than before.
BATCH = 15_000
RETRIES = 10  # SQLite: times a pass is judged again because another promoter wrote first
IDLE_SECONDS = 0.5
NETWORKS_REFRESH = 60.0  # seconds between re-reading imported network lists
# Bounds on what is remembered across passes; past one, it is forgotten and read again.
REMEMBERED_LINKS = 50_000
REMEMBERED_TEXTS = 50_000  # distinct user agents, addresses, header sets

OPENED, CLICKED = promotion.ENGAGEMENT
_NO_LINK: tuple[None, None] = (None, None)
_HONEYPOT: Mapping[str, Any] = {"honeypot": True}  # shared by every honeypot event: never changed

Links = dict[int, tuple[str, str]]  # a message's links by index: (url, anchor text)
# a message's links changed after sending, by index: (when, the URL before), oldest first
History = Mapping[int, Sequence[tuple[datetime, str]]]
_NO_HISTORY: History = {}


async def promoter_worker(
    db: Database, clock: Clock, settle_seconds: float, stop: asyncio.Event, *, nice: int = 0
) -> None:
    """Passes until ``stop``, in a thread of their own, ``nice`` added to its priority where
    the process also answers clicks (see :func:`_yield_to_the_redirect`)."""
    promoter = Promoter(db, clock, settle_seconds)
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(1, "promoter", initializer=_yield_to_the_redirect, initargs=(nice,))
    try:
        while not stop.is_set():
            try:
                done = await loop.run_in_executor(thread, promoter.run_once)
            except Exception:
                log.exception("promotion pass failed; retrying")
                done = 0
            if done < BATCH:
                await pause(stop, IDLE_SECONDS)
    finally:
        thread.shutdown(wait=False)  # a pass under way ends on its own; the loop goes on


def _yield_to_the_redirect(nice: int) -> None:
    """Lower the promoter thread's scheduling priority by ``nice`` (Linux: per thread).

    Where it shares a process with the event loop that answers clicks (an application built
    in-process; `mailbeacon serve` itself runs the promoter in a child process at a lower
    priority, supervisor.py), it shares a core and the GIL with it. The GIL's switch
    interval asks a running thread to let a waiting one in, but on a busy core the waiting
    thread must first be scheduled to ask, and at equal priority the kernel let the promoter
    run out its time slice first. At a lower priority the kernel runs the loop as soon as it
    wakes; the promoter still has every cycle the redirect leaves, so it falls behind only
    while the redirect saturates the core, and the backlog waits, durable, for the load to
    ease. bench/redirect's whole job, back to back, two runs each: p99 14.8-16.3 ms before,
    11.9-12.4 after (the redirect alone: 9-10 ms in those runs); clicks fully processed
    0.121-0.123x nginx before, 0.132-0.134x after, the whole job's CPU per click 97-103 us
    before, 87-100 after (fewer switches between the two)."""
    if not nice:
        return
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed
        me = threading.get_native_id()  # the thread starts at its creator's nice value
        os.setpriority(os.PRIO_PROCESS, me, min(os.getpriority(os.PRIO_PROCESS, me) + nice, 19))


def promote_settled(
    db: Database, clock: Clock, settle_seconds: float, *, limit: int = BATCH
) -> int:
    """One pass (for tests and tools): how many observations were promoted."""
    return Promoter(db, clock, settle_seconds).run_once(limit=limit)


class _Stale(Exception):
    """Another promoter wrote, since this pass was judged, what the pass depends on."""


class _CopyContext(NamedTuple):
    message_id: int
    project_id: int
    route_id: int | None
    tag: str | None
    recipient: str
    delivered_at: datetime | None
    links: Links
    history: History


class Promoter:
    """Promotes settled observations a pass at a time (:meth:`run_once`), keeping across
    passes what later ones can reuse (see the module docstring). One per worker thread."""

    def __init__(self, db: Database, clock: Clock, settle_seconds: float) -> None:
        self.db = db
        self.clock = clock
        self.settle_seconds = settle_seconds  # MAILBEACON_SETTLE_SECONDS
        self._networks: NetworkTable | None = None
        self._networks_at = 0.0
        self._links: dict[int, Links] = {}  # message id -> its links
        self._links_held = 0
        self._history: dict[int, History] = {}  # message id -> its links' changes, if any
        self._feed_mark: int | None = None  # the last changed-links entry followed
        self._headers: dict[str, Mapping[str, str]] = {}  # JSON text -> parsed
        self._texts: dict[str, str] = {}  # user agents and addresses, each kept once

    def networks(self, conn: Connection) -> NetworkTable:
        if self._networks is None or time.monotonic() - self._networks_at > NETWORKS_REFRESH:
            self._networks = network_store.load_table(conn)
            self._networks_at = time.monotonic()
        return self._networks

    def run_once(self, *, limit: int = BATCH) -> int:
        now = self.clock.now()
        upto_us = _micros(now - timedelta(seconds=self.settle_seconds))
        db = self.db
        if not db.is_sqlite:
            # PostgreSQL: the claimed rows stay locked (SKIP LOCKED) while they are judged, and
            # other promoters take others; their copies' summaries are locked before they are
            # read (store/promotion.py ``states``), so a pass that shares copies with another
            # waits for it to commit, then judges from what it wrote.
            with db.write() as conn:
                found = promotion.claim(conn, upto_us, limit, skip_locked=True)
                if not found:
                    return 0
                ids = {observation[1] for observation in found}
                read = promotion.states(conn, ids, lock=True)
                self._write(conn, self._judge(conn, found, read), found, now, recheck=False)
            return len(found)
        # SQLite has one writer at a time, and the observation writer (the clicks) waits for
        # whoever holds the lock: judge from the database as it is, without the lock, and
        # take it only to write. If another promoter (another process) promoted some of these
        # observations meanwhile, or judged hits of these copies (their summaries decide
        # `first`, the unique counters and bursts), the pass is judged again.
        for _ in range(RETRIES):
            with db.read() as conn:
                found = promotion.claim(conn, upto_us, limit, skip_locked=False)
                if not found:
                    return 0
                ids = {observation[1] for observation in found}
                judged = self._judge(conn, found, promotion.states(conn, ids, lock=False))
            try:
                with db.write() as conn:
                    self._write(conn, judged, found, now, recheck=True)
            except _Stale:
                continue
            return len(found)
        log.info("other promoters wrote the same copies %d times in a row; pausing", RETRIES)
        return 0

    def _write(
        self,
        conn: Connection,
        judged: _Pass,
        found: Sequence[Observed],
        now: datetime,
        *,
        recheck: bool,
    ) -> None:
        """The pass's writes, in the caller's transaction. With ``recheck`` (judged outside
        it), :class:`_Stale` (roll back) if another promoter changed what the pass was judged
        from."""
        if recheck:
            current = promotion.states(conn, judged.histories, lock=False)
            if {row[0]: row[3] for row in current} != judged.before:
                raise _Stale
        marked = promotion.mark_promoted(conn, found)
        if marked != len(found):
            raise _Stale
        made = judged.made
        assert made is not None, "a pass is finished before it is written"
        events.record(conn, judged.rows, now, made.counters, analytics=made.analytics)
        link_report.add(conn, judged.link_tally)
        promotion.save_states(conn, made.states)

    def _judge(
        self, conn: Connection, found: Sequence[Observed], states: Sequence[StateRow]
    ) -> _Pass:
        by_copy: dict[int, list[Observed]] = {}
        for observation in found:
            by_copy.setdefault(observation[1], []).append(observation)
        contexts = self._contexts(conn, list(by_copy))
        judged = _Pass(new_ids(len(found)), {row[0]: row[3] for row in states})
        stored = {row[0]: row for row in states}
        table = self.networks(conn)
        for copy_id, group in by_copy.items():
            copy = contexts.get(copy_id)
            if copy is None:
                continue  # the copy is gone (retention): nothing to attach the hit to
            row = stored.get(copy_id)
            history = CopyHistory() if row is None else CopyHistory.stored(*row[1:])
            judged.histories[copy_id] = history
            links = len(copy.links)
            # One call per copy: classify sweeps a copy's clicks in time order (a window's
            # two edges moving forward), so a copy's thousands of hits in one pass (a bot
            # looping on its links) cost their number, and every pattern sees them all.
            hits = [self._hit(observation, copy.delivered_at) for observation in group]
            verdicts = classify(hits, networks=table, link_count=links, context=history.context())
            for observation, hit, verdict in zip(group, hits, verdicts, strict=True):
                judged.add(observation, hit, verdict, copy, history)
            history.remember(
                (observation[4], hit.kind, observation[3], hit.ip, hit.user_agent)
                for observation, hit in zip(group, hits, strict=True)
            )
        # The counters' increments and the summaries as stored are pure work, about 3 us an
        # event (the analytics increments most of it): made here, so that on SQLite they are
        # made before the write lock is taken, not while the API's writers wait for it.
        judged.made = _Made(
            judged.deltas(), events.analytics_of(conn, judged.rows), judged.state_rows()
        )
        return judged

    def _follow_feed(self, conn: Connection) -> None:
        """Forget the remembered links of messages whose links changed since the last pass:
        an event records the destination its click went to from then on."""
        if self._feed_mark is None:
            self._feed_mark = link_changes.newest_invalidation(conn)  # nothing remembered yet
            return
        changed = link_changes.invalidations_after(conn, self._feed_mark, REMEMBERED_LINKS)
        for entry in changed:
            self._links.pop(entry.message_id, None)
            self._history.pop(entry.message_id, None)
        if changed:
            self._feed_mark = changed[-1].id

    def _contexts(self, conn: Connection, copy_ids: list[int]) -> dict[int, _CopyContext]:
        self._follow_feed(conn)
        rows = promotion.copy_contexts(conn, copy_ids)
        links = self._links_of(conn, {row[1] for row in rows})
        return {
            copy_id: _CopyContext(
                message_id,
                project_id,
                route_id,
                tag,
                recipient,
                delivered_at,
                links[message_id],
                self._history.get(message_id, _NO_HISTORY),
            )
            for copy_id, message_id, recipient, delivered_at, project_id, route_id, tag in rows
        }

    def _links_of(self, conn: Connection, message_ids: set[int]) -> dict[int, Links]:
        known = {m: self._links[m] for m in message_ids if m in self._links}
        fetched: dict[int, Links] = {m: {} for m in message_ids if m not in known}
        if fetched:
            for message_id, index, url, anchor in promotion.links_of(conn, list(fetched)):
                fetched[message_id][index] = (url, anchor)
            held = sum(len(found) for found in fetched.values())
            if self._links_held + held > REMEMBERED_LINKS:
                self._links.clear()
                self._history.clear()
                self._links_held = 0
            self._links.update(fetched)
            self._history.update(link_changes.history(conn, list(fetched)))
            self._links_held += held
            known.update(fetched)
        return known

    def _hit(self, observation: Observed, sent_at: datetime | None) -> Hit:
        _, _, kind, link_index, at_us, method, ip, user_agent, headers = observation
        texts = self._texts  # one copy of each agent and address, not one per hit
        if len(texts) >= REMEMBERED_TEXTS:
            texts.clear()
        return Hit(
            KIND_NAMES[kind],
            method,
            texts.setdefault(user_agent, user_agent),
            _at(at_us),
            sent_at,
            link_index if kind == KIND_CLICK else None,
            None if ip is None else texts.setdefault(ip, ip),
            self._parsed(headers),
        )

    def _parsed(self, headers: str) -> Mapping[str, str]:
        """The headers' JSON, parsed once per distinct text (a handful of shapes repeat);
        the mapping is shared between hits, and nothing changes it."""
        parsed = self._headers.get(headers)
        if parsed is None:
            if len(self._headers) >= REMEMBERED_TEXTS:
                self._headers.clear()
            parsed = self._headers[headers] = json.loads(headers)
        return parsed


class _Made(NamedTuple):
    """What a judged pass writes besides its events, made before the write."""

    counters: rollups.Deltas  # the daily counters (store/rollups.py)
    analytics: AnalyticsDeltas  # the analytics counters (store/analytics_rollups.py)
    states: list[StateRow]  # the copies' summaries, moved on


class _Pass:
    """One pass's events, counter increments and copy summaries, built as its verdicts come
    in."""

    def __init__(self, public_ids: list[str], before: dict[int, int]) -> None:
        self.rows: list[Event] = []
        self._public_ids = public_ids
        self.before = before  # each copy's hits as its summary said when the pass was judged
        self.histories: dict[int, CopyHistory] = {}  # the copies' summaries, moved on
        # how many events moved each set of counters, per (project, route, tag, day's ordinal):
        # the rollup key (rollups.key) is made once per distinct one, in deltas()
        self._tally: Counter[tuple[int, int | None, str | None, int, tuple[str, ...]]]
        self._tally = Counter()
        # per (message, link): recipients and clicks, by people and by machines (link_report)
        self.link_tally: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        self.made: _Made | None = None  # once every verdict is in

    def add(
        self,
        observation: Observed,
        hit: Hit,
        verdict: Verdict,
        copy: _CopyContext,
        history: CopyHistory,
    ) -> None:
        observation_id, copy_id, kind, link_index = observation[:4]
        opened = kind == KIND_OPEN
        event_type = OPENED if opened else CLICKED
        counted = verdict.counts_for_metrics
        classification = verdict.classification
        flags = history.record(opened, classification.value, counted)
        counters = _counters(
            opened,
            classification is Classification.GENUINE,
            classification is Classification.PRIVACY_PROXY,
            counted,
            verdict.machine,
            bool(flags.first),
            flags.first_any,
            flags.first_engaged,
        )
        at = hit.at
        assert at is not None
        self._tally[(copy.project_id, copy.route_id, copy.tag, at.toordinal(), counters)] += 1
        url = anchor = index = None
        if kind == KIND_CLICK:
            index = link_index
            url, anchor = copy.links.get(index, _NO_LINK)
            if url is not None:  # a link of the message: its report counts the click
                if copy.history:  # fixed after sending: as it was then
                    url = destination_at(url, copy.history.get(index, ()), at)
                machine = verdict.machine
                if counted or machine:
                    self._count_link(copy.message_id, index, history, counted, machine)
        facts = client_facts(hit.user_agent)
        self.rows.append(
            Event(
                self._public_ids[len(self.rows)],
                copy.project_id,
                copy.message_id,
                event_type,
                at,
                copy_id,
                observation_id,
                copy.recipient,
                index,
                url,
                anchor,
                flags.first,
                classification.value,
                verdict.probability,
                verdict.proxy_type,
                verdict.family,
                verdict.reason_codes,  # tuples: written as JSON arrays
                verdict.details,
                verdict.machine,
                counted,
                facts.device_type,
                facts.client_type,
                facts.client_name,
                hit.user_agent,
                _HONEYPOT if kind == KIND_HONEYPOT else NO_DATA,
                flags.class_firsts,
            )
        )

    def _count_link(
        self, message_id: int, index: int, history: CopyHistory, counted: bool, machine: bool
    ) -> None:
        human_first, machine_first = history.clicked(index, counted, machine)
        key = (message_id, index)
        human, human_events, robots, robot_events = self.link_tally.get(key, (0, 0, 0, 0))
        self.link_tally[key] = (
            human + human_first,
            human_events + counted,
            robots + machine_first,
            robot_events + machine,
        )

    def state_rows(self) -> list[StateRow]:
        return [
            (
                copy_id,
                history.opens,
                history.clicks,
                history.hits,
                history.window_text(),
                history.linked_text(),
            )
            for copy_id, history in self.histories.items()
        ]

    def deltas(self) -> rollups.Deltas:
        deltas = rollups.Deltas()
        for (project_id, route_id, tag, day, counters), count in self._tally.items():
            key = rollups.key(project_id, route_id, tag, date.fromordinal(day))
            deltas.bump(key, **dict.fromkeys(counters, count))
        return deltas


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


@functools.cache
def _counters(
    opened: bool,
    human: bool,
    proxy: bool,
    counted: bool,
    machine: bool,
    first: bool,
    first_any: bool,
    first_engaged: bool,
) -> tuple[str, ...]:
    """The daily counters one event adds 1 to (a few dozen combinations, remembered)."""
    name = "opened" if opened else "clicked"
    found: list[str] = []
    if counted:
        found.append(name)
        if first:
            found.append("unique_" + name)
        if first_engaged:
            found.append("effective_opened")  # opened, or clicked: it was read
    if machine:
        found.append("machine_" + name)
    if first_any:
        found.append("unique_any_" + name)
    if opened and human:
        found.append("human_opened")
    elif opened and proxy:
        found.append("privacy_opened")
    return tuple(found)
