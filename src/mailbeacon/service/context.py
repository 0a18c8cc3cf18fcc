"""What the entry points share: the collaborators the composition root (app.py) builds.

It lives here, below its users, so that the web endpoints and the SMTP relay can name it
without importing the module that assembles them. Workers do not take it: each receives only
the collaborators it uses (app.py's ``build_workers``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import Clock
from ..config import Settings
from ..core.instrumentation.tokens import TokenCodec
from ..store.db import Database
from ..store.observations import ObservationWriter
from .accept import Accepted
from .cnames import CnameLookup
from .instrumenter import Instrumenter
from .links import LinkCache
from .shipper import Shipper
from .tracking_hosts import TrackingHosts

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    db: Database
    codec: TokenCodec
    instrumenter: Instrumenter
    clock: Clock
    writer: ObservationWriter  # into the hit journal (store/journal.py)
    shipper: Shipper  # from the journal to the central database
    links: LinkCache
    hosts: TrackingHosts  # tracking hosts and custom domains, in memory
    cnames: CnameLookup  # DNS, for custom domains' CNAME records

    def accepted(self, message: Accepted) -> None:
        """A message was accepted: its first clicks need not wait for the database."""
        self.links.prime(message.message_id, message.copy_ids, message.urls)
