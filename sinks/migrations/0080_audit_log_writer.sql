-- Each audit writer has a topic of its own (esup/audit_writers.py): the sink stores the writer, the principal
-- whose topic a record came from (which only it may write), never what the record says. The key takes the
-- writer too: a record another writer copies, audit id and all, is a row of its own, never one that replaces
-- the original. Rows from before came from the shared topic: writer 'legacy', also the default, so that a row an
-- old sink still running during the upgrade inserts is 'legacy' too (stop the sink first: docs/operations.md).
-- The old table is kept.
-- Same SQL subset as 0001 (ClickHouse 18.16 and current releases).
CREATE TABLE IF NOT EXISTS audit_log_v3
(
    audit_id String,
    at DateTime('Asia/Shanghai'),
    actor_id String,
    role String,
    action String,
    method String,
    path String,
    finding_id String,
    status UInt16,
    detail String,
    chain String,
    prev_hash String,
    hash String,
    writer String DEFAULT 'legacy'
)
ENGINE = ReplacingMergeTree
ORDER BY (audit_id, writer);

INSERT INTO audit_log_v3 SELECT audit_id, at, actor_id, role, action, method, path, finding_id, status, detail, chain,
    prev_hash, hash, 'legacy' FROM audit_log;

RENAME TABLE audit_log TO audit_log_0040, audit_log_v3 TO audit_log;
