"""Versioned ClickHouse DDL, applied in order by `esup db migrate` (NNNN_name.sql)."""
