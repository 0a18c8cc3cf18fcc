"""An analytics answer as CSV rows (``Accept: text/csv``).

One table per answer, the most detailed section asked for: one row per breakdown row (its
dimensions, then its metrics), else one per time-series bucket (``from``, ``to``, then the
metrics), else the summary's one row. With ``compare``, each metric is followed by
``previous_<metric>``. A header row names the columns; a rate with a zero denominator is an
empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["lines"]


def lines(
    answer: Mapping[str, Any], metrics: Sequence[str], group_by: Sequence[str]
) -> Iterator[str]:
    """The CSV text of ``answer``, a line at a time (header first)."""
    data = answer["data"]
    leading: list[str]
    if "breakdown" in data:
        leading, items = list(group_by), data["breakdown"]
    elif "time_series" in data:
        leading, items = ["from", "to"], data["time_series"]
    else:
        leading, items = [], [data["summary"]]
    compare = any("previous" in item for item in items)
    header = list(leading)
    for metric in metrics:
        header.append(metric)
        if compare:
            header.append("previous_" + metric)
    yield _line(header)
    for item in items:
        cells: list[Any] = [
            item["dimensions"].get(name) if "dimensions" in item else item.get(name)
            for name in leading
        ]
        for metric in metrics:
            cells.append(item["metrics"].get(metric))
            if compare:
                cells.append(item.get("previous", {}).get("metrics", {}).get(metric))
        yield _line(cells)


def _line(cells: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(["" if c is None else c for c in cells])
    return buffer.getvalue()
