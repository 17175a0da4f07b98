"""Ingestion: the bridge from the departments' own topics and the HTTP gateway, both binding events to a department."""
