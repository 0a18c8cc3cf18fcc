"""Lettr's dialect (SparkPost's shapes), the pure part: its request bodies and webhook
payloads."""
