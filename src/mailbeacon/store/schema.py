"""The tables. Every change here comes with an Alembic migration (store/migrations/versions).

Ids: an integer primary key for joins and pagination, and for what the outside sees a
``public_id`` (a UUID) that reveals no volumes. The exception is ``copies.id``: it is the copy id
inside tracking tokens, which are sealed, so it never shows.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from ..core.analytics.catalogue import COUNTS as _COUNTS
from .types import UTCDateTime

ANALYTICS_COUNTS = tuple(_COUNTS)

__all__ = [
    "ANALYTICS_COUNTS",
    "DAILY_BY_VALUE",
    "FIRST_EVENTS",
    "PEOPLE_EVENTS",
    "RANKED_COUNTS",
    "RANKING_INDEXES",
    "VALUES_BY_LAST_DAY",
    "analytics_daily",
    "analytics_hourly",
    "analytics_values",
    "copies",
    "copy_states",
    "dashboard_sessions",
    "dashboard_users",
    "erasures",
    "events",
    "idempotency_keys",
    "instance_secrets",
    "journal_marks",
    "link_changes",
    "link_clicks",
    "link_invalidations",
    "links",
    "login_attempts",
    "messages",
    "metadata",
    "network_ranges",
    "observations",
    "projects",
    "retention_marks",
    "routes",
    "stats_daily",
    "suppressions",
    "teams",
    "tracking_domains",
    "tracking_opt_outs",
    "unpromoted",
    "webhook_attempts",
    "webhook_deliveries",
    "webhooks",
]

# Deterministic constraint names, so that migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid

teams = Table(
    "teams",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("team_id", BigId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("sid", String(16), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("sending_token_hash", String(64), nullable=False, unique=True),
    Column("delivery_mode", String(16), nullable=False, default="live"),
    Column("smtp_enabled", Boolean, nullable=False, default=True),
    Column("redact_email_content", Boolean, nullable=False, default=False),
    Column("default_route_id", BigId, nullable=True),  # routes.id; no FK: routes refer here
    Column("token_generated_at", UTCDateTime, nullable=False),
    Column("token_last_used_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # deleted, its data being purged in the background (workers/purge.py); until then it
    # belongs to a team of its own that no token opens (service/projects.py)
    Column("deleted_at", UTCDateTime, nullable=True),
    Index(None, "team_id"),
)

routes = Table(
    "routes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("slug", String(255), nullable=False),
    Column("route_type", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("track_opens", Boolean, nullable=False),
    Column("track_clicks", Boolean, nullable=False),
    Column("settings", JSON, nullable=False),  # the other Lettermint route settings, as given
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "slug"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("route_id", BigId, ForeignKey("routes.id", ondelete="SET NULL"), nullable=True),
    Column("source", String(16), nullable=False),  # lettermint, lettr, smtp
    Column("status", String(24), nullable=False),
    Column("from_email", String(320), nullable=False),
    Column("from_name", String(255), nullable=True),
    # SMTP relay: the client's MAIL FROM (a bounce address, "" for the null sender), used as
    # the copies' MAIL FROM upstream; NULL: from_email's, as for API mail
    Column("envelope_from", String(320), nullable=True),
    Column("subject", Text, nullable=True),
    Column("to", JSON, nullable=False),  # [{"email", "name"}]
    Column("cc", JSON, nullable=False),
    Column("bcc", JSON, nullable=False),
    Column("reply_to", JSON, nullable=False),  # [str]
    Column("tag", String(255), nullable=True),
    Column("tags", JSON, nullable=False),  # [{"name", "value"}]
    Column("metadata", JSON, nullable=False),  # {str: str}
    Column("attachments", JSON, nullable=False),  # [{"filename", "content_type", "size", ...}]
    Column("html", Text, nullable=True),
    Column("text", Text, nullable=True),
    Column("raw", LargeBinary, nullable=False),  # the message as accepted, before tracking
    Column("transactional", Boolean, nullable=False, default=True),
    Column("track_opens", Boolean, nullable=False),
    Column("track_clicks", Boolean, nullable=False),
    Column("status_changed_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "project_id", "id"),
    Index(None, "project_id", "created_at"),  # a window of a project's messages (Lettr's list)
    Index(None, "project_id", "tag"),
    Index(None, "project_id", "status"),
    Index(None, "route_id"),
)

# One recipient's instrumented copy. Its id is the copy id in tracking tokens.
copies = Table(
    "copies",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("recipient_kind", String(3), nullable=False),  # to, cc, bcc
    # queued, processed, delivered, failed, captured; suppressed: refused, never sent
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),  # a worker holds it until then
    Column("last_error", Text, nullable=True),
    Column("raw", LargeBinary, nullable=False),  # exactly what is handed to the upstream
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # The copy's own MAIL FROM upstream: a VERP address naming it (core/bounces/verp.py), so
    # a bounce that comes back later says whose it is; NULL: the message's
    Column("envelope_from", String(320), nullable=True),
    # When its recipient unsubscribed with the copy's one-click link: set once, so a second
    # POST records nothing (service/unsubscribes.py)
    Column("unsubscribed_at", UTCDateTime, nullable=True),
    Index(None, "message_id"),
    Index(None, "status", "next_attempt_at"),
)
# filter[recipient] matches any letter case: the index is on what the query compares.
Index("ix_copies_lower_recipient", func.lower(copies.c.recipient))

# The tracked links of a message: the same for every recipient's copy.
links = Table(
    "links",
    metadata,
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("link_index", Integer, primary_key=True, autoincrement=False),
    Column("url", Text, nullable=False),
    Column("anchor_text", Text, nullable=False),
    Column("element", String(64), nullable=False),
)

# Raw hits, written on the redirect path (group commit): no foreign keys, nothing to check.
observations = Table(
    "observations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("copy_id", BigInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),  # 1 open, 2 click, 3 honeypot
    Column("link_index", Integer, nullable=False),
    Column("at_us", BigInteger, nullable=False),  # Unix time in microseconds
    Column("method", String(8), nullable=False),
    Column("host", String(255), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON object: the few headers classification uses
    # No index: an index on copy_id would take a random page write per hit. Retention walks
    # the rows by id (hits are written in time order); the promoter reads them from
    # ``unpromoted``.
)

# The observations the promoter has not judged yet, oldest first: what it claims, and what
# "promoted" means (a hit is promoted once its row here is gone). Whatever inserts
# observations queues them here in the same transaction (store/observations.py
# ``insert_hits``, and the shipper's copy from a journal); the promoter deletes a pass's rows
# in the pass's transaction. A flag on the observation did the same, but marking a pass
# promoted rewrote each of its ~300-byte observation rows and moved it in an index of (flag,
# time): every page of the pass's hits went to the WAL again. Deleting a 16-byte key costs a
# third as much (bench/promote/marks.py). Keyed by time first, so a claim is a range from the
# start.
unpromoted = Table(
    "unpromoted",
    metadata,
    Column("at_us", BigInteger, primary_key=True, autoincrement=False),
    Column("observation_id", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# How far each serve process's hit journal (store/journal.py) has been shipped into
# observations: written in the same transaction as the hits it covers, so a batch shipped
# again after a crash is skipped as a whole (exactly once, without a key per hit to index).
journal_marks = Table(
    "journal_marks",
    metadata,
    Column("journal", BigInteger, primary_key=True, autoincrement=False),  # its random id
    Column("shipped_seq", BigInteger, nullable=False),  # its hits up to here are shipped
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("copy_id", BigInteger, nullable=True),
    Column("observation_id", BigInteger, nullable=True, unique=True),  # promotion is idempotent
    Column("type", String(32), nullable=False),  # message.created, message.clicked, ...
    Column("at", UTCDateTime, nullable=False),
    Column("recipient", String(320), nullable=True),
    Column("link_index", Integer, nullable=True),
    Column("url", Text, nullable=True),
    Column("anchor_text", Text, nullable=True),
    Column("first", Boolean, nullable=True),  # first_open / first_click among countable events
    Column("classification", String(24), nullable=True),
    Column("probability", SmallInteger, nullable=True),
    Column("proxy_type", String(32), nullable=True),
    Column("family", String(64), nullable=True),
    Column("reason_codes", JSON, nullable=True),
    Column("details", JSON, nullable=True),
    Column("machine", Boolean, nullable=True),
    Column("counts_for_metrics", Boolean, nullable=True),
    Column("device_type", String(16), nullable=True),
    Column("client_type", String(24), nullable=True),
    Column("client_name", String(64), nullable=True),
    Column("user_agent", Text, nullable=True),
    Column("data", JSON, nullable=False),  # anything else the event carries (error text, ...)
    # engagement: the classes (core/analytics/classes.py BITS) this event is its copy's first
    # of, for its kind: what analytics' unique counts add up
    Column("firsts", SmallInteger, nullable=True),
    Index(None, "message_id", "id"),
    Index(None, "project_id", "at"),
    # No index for the per-link report: it reads link_clicks (below). The one it had (message,
    # type, link, copy, countable, machine) took a random page of a six-column index per
    # event, the costliest of the promoter's inserts (bench/promote/event_indexes.py).
)
# A page of a message's events as the API shows them by default (no machine events): an
# index range scan in id order, however many machine events the message has, where the
# (message_id, id) index above would read and filter them. The predicate is the query's own
# term (store/queries.py, event_page), which SQLite needs verbatim to use a partial index.
PEOPLE_EVENTS = events.c.machine.is_not(True)
Index(
    "ix_events_message_id_id_people",
    events.c.message_id,
    events.c.id,
    sqlite_where=PEOPLE_EVENTS,
    postgresql_where=PEOPLE_EVENTS,
)

# One `first` event per copy and type: the promoter's one-pass-at-a-time per copy
# (copy_states) makes it so; this is the safety net should anything else ever write events.
FIRST_EVENTS = events.c.first.is_(True)
Index(
    "ux_events_first",
    events.c.copy_id,
    events.c.type,
    unique=True,
    sqlite_where=FIRST_EVENTS,
    postgresql_where=FIRST_EVENTS,
)

# Each copy's summary for the promoter (core/history.py): what judging its next hits needs
# of its past (what its events have been, its recent clicks and honeypot hits), one row
# however many hits it has had. The promoter locks a pass's rows (PostgreSQL) or compares
# ``hits`` before writing (SQLite), so one pass at a time judges a copy.
copy_states = Table(
    "copy_states",
    metadata,
    Column(
        "copy_id",
        BigId,
        ForeignKey("copies.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("opens", SmallInteger, nullable=False, server_default="0"),  # bits: core/history.py
    Column("clicks", SmallInteger, nullable=False, server_default="0"),
    Column("hits", BigInteger, nullable=False, server_default="0"),  # hits judged so far
    Column("recent", Text, nullable=False, server_default=""),  # the window, JSON ("": none)
    # the links this copy has clicked, by people and by machines: "HUMAN:MACHINE", each a
    # bitmask of link indexes in hex ("": none); what link_clicks' recipient counts need
    Column("linked", Text, nullable=False, server_default=""),
)

# Each link's clicks, by people and by machines (store/link_report.py), added to by the
# promoter with its events (one upsert per link a pass saw clicked): the per-link report of
# GET /v1/messages/{id} reads a message's few rows, however many clicks it has had. Plain
# counts are of recipients (copies), ``_events`` ones of clicks, as Lettermint names them.
link_clicks = Table(
    "link_clicks",
    metadata,
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("link_index", Integer, primary_key=True, autoincrement=False),
    Column("human", BigInteger, nullable=False, server_default="0"),
    Column("human_events", BigInteger, nullable=False, server_default="0"),
    Column("machine", BigInteger, nullable=False, server_default="0"),
    Column("machine_events", BigInteger, nullable=False, server_default="0"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(32), nullable=False),  # which endpoint: lettermint.send, lettr.emails
    Column("key", String(255), nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),  # in_flight, done
    Column("status_code", SmallInteger, nullable=True),
    Column("response", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "scope", "key"),
    Index(None, "created_at"),
)

# Secrets the instance makes for itself (the development signing key).
instance_secrets = Table(
    "instance_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Network ranges imported by the operator (`mailbeacon data import`), on top of the shipped
# list in mailbeacon/data/networks.csv.
network_ranges = Table(
    "network_ranges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("network", String(64), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("confidence", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Index(None, "provider"),
)

# Daily counters, maintained as events are recorded (never recomputed from events on read).
# route_id 0 and tag "" stand for "none", so that the key has no NULLs.
stats_daily = Table(
    "stats_daily",
    metadata,
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("route_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tag", String(255), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    *(
        Column(name, Integer, nullable=False, default=0, server_default="0")
        for name in (
            "sent",
            "failed",
            "opened",
            "unique_opened",
            "clicked",
            "unique_clicked",
            "effective_opened",
            "human_opened",
            "privacy_opened",
            "machine_opened",
            "machine_clicked",
            "unique_any_opened",
            "unique_any_clicked",
            "hard_bounced",
            "soft_bounced",
            "suppressed",
            "unsubscribed",
        )
    ),
    # the key starts with route and tag: a range of days is an index range only through these
    Index(None, "project_id", "day"),
    Index(None, "project_id", "tag", "day"),
)

# Hourly analytics counters (core/analytics/catalogue.py COUNTS, one column each), added to
# in the events' transaction (service/events.py). Keyed so that a window is an index range
# of a project whatever the number of tags or links: summary, time series and breakdowns by
# route or message type read at most 24 rows a day per route. route_id 0: none. Counters are
# 4-byte integers: PostgreSQL sums those as bigint, where bigints are summed as numeric
# (several times slower).
analytics_hourly = Table(
    "analytics_hourly",
    metadata,
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", BigInteger, primary_key=True, autoincrement=False),  # Unix time // 3600
    Column("route_id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_type", String(16), primary_key=True),
    *(
        Column(name, Integer, nullable=False, default=0, server_default="0")
        for name in ANALYTICS_COUNTS
    ),
    # SQLite: the rows in key order (a range of the key is a range of the table)
    sqlite_with_rowid=False,
)

# The daily counters' index of a value's days (named: store/analytics_top.py gives it to SQLite)
DAILY_BY_VALUE = "ix_analytics_daily_project_id_dimension_value_key_day"

# Daily analytics counters per value of one dimension (core/analytics/rollup.py DAILY:
# tag, link, recipient_domain, client_name, ...), for breakdowns by and filters on one
# dimension: a window of one dimension is an index range, however many values it has. The
# key holds a hash of the value (a link can be longer than an index entry may be); value_key
# "" and value NULL: none.
analytics_daily = Table(
    "analytics_daily",
    metadata,
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("dimension", String(32), primary_key=True),
    Column("day", Integer, primary_key=True, autoincrement=False),  # Unix time // 86400
    Column("value_key", String(40), primary_key=True),
    Column("value", Text, nullable=True),
    *(
        Column(name, Integer, nullable=False, default=0, server_default="0")
        for name in ANALYTICS_COUNTS
    ),
    # a value's days (the window sum of a value read by the ranking, store/analytics_top.py)
    Index(DAILY_BY_VALUE, "project_id", "dimension", "value_key", "day"),
    # SQLite: the rows in key order (a range of the key is a range of the table)
    sqlite_with_rowid=False,
)

# The counters a breakdown can be ranked by without reading every value of the window
# (store/analytics_top.py): each has an index on analytics_values. Others rank by summing
# analytics_daily over the window.
RANKED_COUNTS = (
    "delivered",
    "human_opens",
    "human_clicks",
    "human_opens_events",
    "human_clicks_events",
)
# Index names the ranking's queries give SQLite (store/db.py: INDEXED BY), which plans without
# statistics and may otherwise read a window's whole primary key range
RANKING_INDEXES = {name: f"ix_analytics_values_{name}" for name in RANKED_COUNTS}
VALUES_BY_LAST_DAY = "ix_analytics_values_project_id_dimension_last_day_first_day"

# Each value's all-time totals of analytics_daily (the sums of its rows) and the first and
# last day it has a row, added to by the same writer in the same transaction. A value's total
# bounds its sum over any window, and equals it when its days lie inside the window: walking
# the values by total, a top-N stops once the next total is below the N-th window sum found.
analytics_values = Table(
    "analytics_values",
    metadata,
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("dimension", String(32), primary_key=True),
    Column("value_key", String(40), primary_key=True),
    Column("value", Text, nullable=True),
    Column("first_day", Integer, nullable=False),
    Column("last_day", Integer, nullable=False),
    *(
        Column(name, Integer, nullable=False, default=0, server_default="0")
        for name in ANALYTICS_COUNTS
    ),
    # the values with a row since a day (how many groups a window has), covering
    Index(VALUES_BY_LAST_DAY, "project_id", "dimension", "last_day", "first_day"),
    # the ranking's order, read backwards: a counter descending, ties by the key descending
    *(
        Index(index, "project_id", "dimension", name, "value_key")
        for name, index in RANKING_INDEXES.items()
    ),
    sqlite_with_rowid=False,
)

# Webhook endpoints of a team. Scope: every project of the team, some projects, or some
# routes (project_ids / route_ids hold projects.id / routes.id). The secret signs deliveries,
# so it is kept as given out (whsec_ and base64 of 32 random bytes).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("team_id", BigId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("url", String(500), nullable=False),
    Column("format", String(16), nullable=False),  # lettermint, lettr
    Column("events", JSON, nullable=False),  # the format's canonical names
    Column("enabled", Boolean, nullable=False),
    Column("include_machine_events", Boolean, nullable=False),
    Column("scope", String(16), nullable=False),  # team, project, route
    Column("project_ids", JSON, nullable=False),
    Column("route_ids", JSON, nullable=False),
    Column("delivery_mode_filter", String(16), nullable=False),  # live, sandbox, both
    Column("secret", String(128), nullable=False),
    Column("basic_auth", JSON, nullable=True),  # {"username", "password"}
    Column("disabled_reason", Text, nullable=True),  # why mailbeacon turned it off (a 410)
    Column("last_called_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "team_id"),
)

# The outbox: one row per (webhook, event name), written in the event's transaction. Its
# public id is the payload's id and the webhook-id header, the same on every attempt.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("webhook_id", BigId, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", BigInteger, nullable=True),  # the event's (none for a test)
    Column("route_id", BigInteger, nullable=True),
    Column("event_type", String(40), nullable=False),  # the name delivered, in its format
    Column("sandbox", Boolean, nullable=False),
    Column("payload", Text, nullable=False),  # the exact body, sent unchanged every time
    Column("status", String(16), nullable=False),  # pending, success, ..._error, timeout, failed
    Column("attempt_number", Integer, nullable=False),  # attempts made so far
    Column("next_retry_at", UTCDateTime, nullable=True),  # due then; null: nothing to do
    Column("lease_until", UTCDateTime, nullable=True),  # a dispatcher holds it until then
    Column("http_status_code", Integer, nullable=True),  # of the last attempt, and so on
    Column("duration_ms", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("response_headers", JSON, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "next_retry_at"),  # what is due
    Index(None, "webhook_id", "id"),  # a webhook's log
    Index(None, "webhook_id", "next_retry_at"),  # a webhook's pending deliveries
    Index(None, "webhook_id", "lease_until"),  # a webhook's deliveries held now (claims count)
)

# Every attempt of a delivery, as it went.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        BigId,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt_number", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status_code", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    Index(None, "delivery_id"),
)

# Custom tracking domains (core/hosts/domain_checks.py). A domain is claimed once, whatever its
# project; deleting it frees it. next_check_at is when the domain worker looks its CNAME up
# again (null: never, once active or failed).
tracking_domains = Table(
    "tracking_domains",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("domain", String(253), nullable=False, unique=True),  # ASCII (A-labels), lower case
    Column("status", String(16), nullable=False),  # pending_cname, active, failed
    Column("status_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("verified_at", UTCDateTime, nullable=True),
    Column("last_checked_at", UTCDateTime, nullable=True),
    Column("next_check_at", UTCDateTime, nullable=True),
    Index(None, "project_id"),
    Index(None, "status", "next_check_at"),  # what the worker checks next
)

# People who sign in to the dashboard: each belongs to one team and sees only its projects.
# The email is kept lower case (one account per address); the hash is argon2id's encoded form.
dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("team_id", BigId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "team_id"),
)

# Signed-in browsers (service/accounts.py says why server-side): the cookie holds a random
# token, the table its SHA-256, so a copy of the database opens no session.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", BigId, ForeignKey("dashboard_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "user_id"),
    Index(None, "expires_at"),
)

# Failed sign-ins, per account ("email:...") and per client address ("ip:..."): throttling
# reads how many fell in the last window, in the database so it holds across processes.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subject", String(400), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "subject", "at"),
    Index(None, "at"),
)

# Addresses mail is not sent to (Lettermint's suppression list). ``value`` is the address in
# lower case (personal data); scope_key names where it applies ("team", "project:<id>",
# "route:<id>") so that one key, without NULLs, keeps an address once per scope and mail
# category; reason: unsubscribe, hard_bounce, spam_complaint, manual (core/suppressions.py).
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("team_id", BigId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", BigId, ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
    Column("route_id", BigId, ForeignKey("routes.id", ondelete="CASCADE"), nullable=True),
    Column("scope", String(16), nullable=False),  # team, project, route
    Column("scope_key", String(40), nullable=False),
    Column("value", String(320), nullable=False),
    Column("reason", String(24), nullable=False),
    Column("applies_to", String(16), nullable=False),  # all, broadcast
    Column(
        "source_message_id", BigId, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    ),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("team_id", "value", "scope_key", "applies_to"),
)

# Recipients who asked not to be tracked: their copies get no pixel and no tracked links,
# whatever the route or the email says. ``value``: the address in lower case (personal data).
tracking_opt_outs = Table(
    "tracking_opt_outs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("team_id", BigId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("value", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("team_id", "value"),
)

# A link's destination changed after sending (service/link_fixes.py): the audit trail shown
# with the message (who, when, old, new). Events recorded before keep the destination they had.
link_changes = Table(
    "link_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("link_index", Integer, nullable=False),
    Column("old_url", Text, nullable=False),
    Column("new_url", Text, nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "message_id", "id"),
)

# The feed every process that keeps links in memory follows (service/link_feed.py): a
# message's links changed (a fix, an erasure), read them again. Polled by id, so any number
# of processes on either database follow it within a second; copy_ids names, for an erasure,
# the copies whose hits still waiting in a hit journal must lose their personal fields.
link_invalidations = Table(
    "link_invalidations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", BigInteger, nullable=False),
    Column("copy_ids", JSON, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "at"),  # the feed's own retention
)

# The audit log of erasures (service/erasure.py): who asked, when, what was erased, and whose
# data, as a keyed hash of the address (HMAC-SHA256 under an instance secret), never in clear:
# a later request about the same address can be matched, the log names no one.
erasures = Table(
    "erasures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("team_id", BigInteger, nullable=True),  # null: every team (the command line)
    Column("subject_hash", String(64), nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("report", JSON, nullable=False),  # rows changed per table
    Index(None, "subject_hash"),
)

# How far the retention worker (workers/retention.py) has walked each table, by id: rows are
# written in time order, so what lies before the mark is done, and a pass starts from it.
retention_marks = Table(
    "retention_marks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)
