"""A message accepted as the SMTP relay would and marked delivered: its copies' ids, for tests
of what happens to their hits (the promoter's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from mailbeacon.service.accept import Intake, accept
from mailbeacon.service.context import Services
from mailbeacon.store.schema import copies
from tests.support.tenants import Tenant


def delivered_copies(
    services: Services, tenant: Tenant, html: str, recipients: Sequence[str], at: datetime
) -> list[int]:
    """``html`` sent to ``recipients``, accepted and delivered at ``at``; their copies' ids,
    in the recipients' order."""
    raw = (
        "From: s@shop.example\r\nTo: a@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n"
    ).encode()
    intake = Intake(
        raw=raw,
        recipients=[(address, "to") for address in recipients],
        source="smtp",
        from_email="s@shop.example",
        from_name=None,
        subject="s",
        to=[],
    )
    accepted = accept(services.db, services.instrumenter, tenant.project, intake, at)
    with services.db.write() as conn:
        query = copies.update().where(copies.c.message_id == accepted.message_id)
        conn.execute(query.values(delivered_at=at, status="delivered"))
        found = conn.execute(
            select(copies.c.id)
            .where(copies.c.message_id == accepted.message_id)
            .order_by(copies.c.id)
        )
        return [row.id for row in found]
