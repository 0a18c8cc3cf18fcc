"""One-click unsubscribe headers (RFC 8058) on a recipient's copy.

``List-Unsubscribe: <https://.../u/TOKEN>`` and ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` are appended to the copy's top-level header block with
:func:`~.relayed.add_fields`, so every other byte of the copy stays as it was (the
instrumentation's invariant: a DKIM signature over the sender's headers still verifies, since
DKIM signs the fields it names, RFC 6376 5.4). A message that carries a List-Unsubscribe of
its own keeps it alone: two would leave the mailbox provider to pick one, and the sender's
own list is the one they manage.
"""

from __future__ import annotations

from .relayed import add_fields, header_fields

__all__ = ["ONE_CLICK_BODY", "with_one_click"]

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"  # RFC 8058 3.1: what the POST's body holds


def with_one_click(raw: bytes, url: str) -> bytes:
    """``raw`` with the one-click headers pointing at ``url``, unless it has a
    List-Unsubscribe already."""
    fields, _ = header_fields(raw)
    if any(field.name.strip().lower() == "list-unsubscribe" for field in fields):
        return raw
    return add_fields(
        raw, [("List-Unsubscribe", f"<{url}>"), ("List-Unsubscribe-Post", ONE_CLICK_BODY)]
    )
