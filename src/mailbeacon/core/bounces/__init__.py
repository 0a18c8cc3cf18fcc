"""Bounces: the return path that names a copy (verp), reading delivery status notifications
(dsn), and what a failure means for the address (kinds)."""
