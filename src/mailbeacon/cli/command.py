"""What every command module shares."""

from __future__ import annotations

from ..core.errors import MailbeaconError

__all__ = ["CommandError"]


class CommandError(MailbeaconError):
    """A command cannot do what was asked: printed as "mailbeacon: <message>", exit status 2."""
