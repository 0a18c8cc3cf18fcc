"""The classifier against labelled real user agents and scenario traces.

Data: tests/fixtures/useragents (real strings from maintained public data sets, see NOTICE.md):
985 machines by family (crawlers, HTTP libraries, headless browsers, link previews, security
scanners, privacy proxies) and 549 genuine clients (desktop and mobile browsers, in-app
browsers, mail clients, and the traps: Outlook's ms-office agents, Office apps, phones named
"Cubot" or "...bot", browsers with McAfee or Avast tokens). Each string is judged as a hit
with the same request shape (GET, Accept-Language sent), so only what the agent says counts;
the scenario traces add the signals a user agent cannot carry (timing, bursts, networks,
the honeypot).

`make test` prints precision, recall and false-positive rate per class (see conftest's
terminal summary) and fails below: machine recall >= 95%, genuine false-positive rate <= 2%.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbeacon.core.verdicts.classify import Hit, classify
from mailbeacon.core.verdicts.networks import NetworkTable
from mailbeacon.store.networks import builtin_ranges

DATA = Path(__file__).parent.parent / "fixtures" / "useragents"
NETWORKS = NetworkTable(builtin_ranges())
PERSON = {"accept-language": "en-GB,en;q=0.9"}
SENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
CLASSES = ("genuine", "privacy_proxy", "security_scanner", "link_preview", "generic_bot")


def labelled() -> Iterator[tuple[str, str, list[Hit]]]:
    """(expected class, description, hits of one copy); the last hit is the one judged."""
    with (DATA / "machines.tsv").open() as file:
        for family, expected, agent in csv.reader(file, delimiter="\t"):
            kind = "open" if expected == "privacy_proxy" else "click"
            yield expected, family, [Hit(kind, user_agent=agent, headers=PERSON, link_index=0)]
    with (DATA / "genuine.tsv").open() as file:
        for kind, agent in csv.reader(file, delimiter="\t"):
            yield (
                "genuine",
                kind,
                [
                    Hit(
                        "click",
                        user_agent=agent,
                        headers=PERSON,
                        link_index=0,
                        at=SENT + timedelta(minutes=7),
                        sent_at=SENT,
                    )
                ],
            )
    yield from _traces()


def _at(**delta: float) -> datetime:
    return SENT + timedelta(**delta)


def _traces() -> Iterator[tuple[str, str, list[Hit]]]:
    yield (
        "privacy_proxy",
        "trace: MPP open at delivery",
        [Hit("open", user_agent="Mozilla/5.0", at=_at(seconds=3), sent_at=SENT, ip="17.58.0.0")],
    )
    gmail = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    yield (
        "privacy_proxy",
        "trace: Gmail proxy open hours later",
        [Hit("open", user_agent=gmail, at=_at(hours=4), sent_at=SENT, ip="66.249.84.0")],
    )
    burst = [
        Hit(
            "click",
            user_agent=CHROME,
            at=_at(seconds=45, milliseconds=70 * i),
            sent_at=SENT,
            link_index=i,
            ip="40.107.9.0",
        )
        for i in range(6)
    ]
    for i in range(6):
        yield "security_scanner", "trace: Safe Links burst at 45 s", burst[: i + 1]
    quiet_burst = [
        Hit(
            "click",
            user_agent=CHROME,
            at=_at(seconds=51, milliseconds=200 * i),
            sent_at=SENT,
            link_index=i,
            ip="198.51.100.0",
            headers=PERSON,
        )
        for i in range(4)
    ]
    for i in range(1, 4):
        yield "security_scanner", "trace: burst from an unknown network", quiet_burst[: i + 1]
    yield (
        "generic_bot",
        "trace: HEAD probe",
        [
            Hit(
                "click",
                method="HEAD",
                user_agent=CHROME,
                at=_at(minutes=2),
                sent_at=SENT,
                link_index=0,
                headers=PERSON,
            )
        ],
    )
    yield (
        "link_preview",
        "trace: Slack preview",
        [
            Hit(
                "click",
                user_agent="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                at=_at(hours=1),
                link_index=1,
            )
        ],
    )
    person = [
        Hit("open", user_agent=CHROME, at=_at(minutes=10), sent_at=SENT, headers=PERSON),
        Hit(
            "click",
            user_agent=CHROME,
            at=_at(minutes=11),
            sent_at=SENT,
            link_index=0,
            headers=PERSON,
        ),
        Hit(
            "click",
            user_agent=CHROME,
            at=_at(minutes=15),
            sent_at=SENT,
            link_index=3,
            headers=PERSON,
        ),
    ]
    for i in range(3):
        yield "genuine", "trace: a person opens and clicks two links", person[: i + 1]
    outlook = [
        Hit("open", user_agent=OUTLOOK, at=_at(minutes=40), sent_at=SENT, headers=PERSON),
        Hit(
            "click",
            user_agent=CHROME,
            at=_at(minutes=40, milliseconds=500),
            sent_at=SENT,
            link_index=2,
            headers=PERSON,
        ),
    ]
    for i in range(2):
        yield "genuine", "trace: Outlook desktop open and click in one second", outlook[: i + 1]


def evaluate() -> tuple[Counter[tuple[str, str]], list[str]]:
    confusion: Counter[tuple[str, str]] = Counter()
    mistakes: list[str] = []
    for expected, description, hits in labelled():
        verdict = classify(hits[-1:], networks=NETWORKS, context=hits[:-1])[0]
        got = verdict.classification.value
        confusion[expected, got] += 1
        # Reason codes are a set shown to users: each at most once, in a stable order.
        assert len(set(verdict.reason_codes)) == len(verdict.reason_codes), verdict
        if (expected == "genuine") != (got == "genuine"):
            mistakes.append(f"{expected} judged {got}: {description}: {hits[-1].user_agent!r}")
    return confusion, mistakes


def report(confusion: Counter[tuple[str, str]]) -> list[str]:
    lines = [f"{'class':18}{'n':>6}{'precision':>11}{'recall':>9}{'FP rate':>9}"]
    total = sum(confusion.values())
    for name in CLASSES:
        actual = sum(v for (e, _), v in confusion.items() if e == name)
        predicted = sum(v for (_, g), v in confusion.items() if g == name)
        hit = confusion[name, name]
        negatives = total - actual
        false_positive = predicted - hit
        lines.append(
            f"{name:18}{actual:6}{_pct(hit, predicted):>11}{_pct(hit, actual):>9}"
            f"{_pct(false_positive, negatives):>9}"
        )
    return lines


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def test_machine_recall_and_genuine_false_positives(
    request: pytest.FixtureRequest,
) -> None:
    confusion, mistakes = evaluate()
    machines = sum(v for (e, _), v in confusion.items() if e != "genuine")
    caught = sum(v for (e, g), v in confusion.items() if e != "genuine" and g != "genuine")
    people = sum(v for (e, _), v in confusion.items() if e == "genuine")
    flagged = sum(v for (e, g), v in confusion.items() if e == "genuine" and g != "genuine")
    recall, false_positives = caught / machines, flagged / people
    lines = [
        *report(confusion),
        f"machine recall {100 * recall:.1f}% ({caught}/{machines}), "
        f"genuine false positives {100 * false_positives:.2f}% ({flagged}/{people})",
    ]
    request.config.stash.setdefault(EVALUATION, []).extend(lines)
    assert recall >= 0.95, "\n".join(lines + mistakes)
    assert false_positives <= 0.02, "\n".join(lines + mistakes)


def test_every_machine_class_is_represented() -> None:
    counts = Counter(expected for expected, _, _ in labelled())
    for name in CLASSES:
        assert counts[name] >= 5, name


EVALUATION = pytest.StashKey[list[str]]()
