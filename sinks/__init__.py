"""Where findings, events and case snapshots land: ClickHouse tables, their migrations and clients."""
