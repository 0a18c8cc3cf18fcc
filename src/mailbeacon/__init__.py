"""mailbeacon: self-hosted email engagement tracking.

The instrumentation engine as a library::

    from datetime import date
    import mailbeacon

    codec = mailbeacon.TokenCodec(mailbeacon.Keyring.parse("1:<a secret of 32+ bytes>"))
    tracker = mailbeacon.CopyTracker(codec, "https://t.example.com", copy_id=42,
                                     issued=date.today())
    result = mailbeacon.instrument_html(html, tracker)
    result.html        # the HTML with tracked links and the open pixel
    result.links       # (link_index, url, anchor_text, element, tracking_url, ...) per link

``instrument_message`` does the same for a whole RFC 5322 message (bytes). For one message sent
to many recipients, ``plan_html``/``plan_message`` analyse once and ``.render(tracker)`` produces
each recipient's copy.
"""

from .core.errors import (
    ForgedToken,
    InstrumentError,
    InvalidOverride,
    KeyringError,
    MailbeaconError,
    MimePartError,
)
from .core.instrumentation.beacons import GMAIL_CLIP_BYTES, PixelPosition
from .core.instrumentation.linkrules import LinkRules, SkipReason
from .core.instrumentation.mime import (
    InstrumentedMessage,
    MessagePlan,
    PartReport,
    instrument_message,
    plan_message,
)
from .core.instrumentation.rewrite import (
    HtmlPlan,
    InstrumentedHtml,
    SkippedLink,
    TrackedLink,
    instrument_html,
    plan_html,
)
from .core.instrumentation.tokens import Claims, Keyring, Purpose, TokenCodec, Verified
from .core.instrumentation.tracker import CopyTracker
from .core.intake.policy import (
    RouteType,
    TrackingDecision,
    TrackingOverrides,
    TrackingSettings,
    overrides_from_headers,
    resolve_tracking,
)
from .core.lettermint.submission import overrides_from_lettermint
from .core.lettr.submission import overrides_from_lettr

__version__ = "0.1.0"

__all__ = [
    "GMAIL_CLIP_BYTES",
    "Claims",
    "CopyTracker",
    "ForgedToken",
    "HtmlPlan",
    "InstrumentError",
    "InstrumentedHtml",
    "InstrumentedMessage",
    "InvalidOverride",
    "Keyring",
    "KeyringError",
    "LinkRules",
    "MailbeaconError",
    "MessagePlan",
    "MimePartError",
    "PartReport",
    "PixelPosition",
    "Purpose",
    "RouteType",
    "SkipReason",
    "SkippedLink",
    "TokenCodec",
    "TrackedLink",
    "TrackingDecision",
    "TrackingOverrides",
    "TrackingSettings",
    "Verified",
    "__version__",
    "instrument_html",
    "instrument_message",
    "overrides_from_headers",
    "overrides_from_lettermint",
    "overrides_from_lettr",
    "plan_html",
    "plan_message",
    "resolve_tracking",
]
