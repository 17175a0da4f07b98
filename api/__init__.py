"""The loop's HTTP API (FastAPI): department responses and supervisor decisions, authenticated and audited."""
