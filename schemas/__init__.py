"""Pydantic models of the platform's contracts: case events, the item catalog, findings, rule thresholds."""
