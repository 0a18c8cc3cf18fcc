"""SMTP at the edges: the upstream sender (here) and the relay (issue 6)."""
