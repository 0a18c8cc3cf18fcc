"""Lettermint's dialect, the pure part: its request bodies and webhook payloads."""
