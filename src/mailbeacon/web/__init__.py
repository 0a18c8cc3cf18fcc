"""HTTP: the tracking endpoints (the hot path, raw ASGI), the JSON APIs (FastAPI)."""
