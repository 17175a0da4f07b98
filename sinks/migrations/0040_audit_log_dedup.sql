-- The audit log also arrives through the sink (every writer's records on esup.audit: the API, the gateway,
-- `esup access`, catalog publishes and clock advances), and the API still writes its own rows directly so they
-- are readable at once: one row per audit_id after merges (read with FINAL). The old table is kept.
CREATE TABLE IF NOT EXISTS audit_log_v2
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
    hash String
)
ENGINE = ReplacingMergeTree
ORDER BY audit_id;

INSERT INTO audit_log_v2 SELECT audit_id, at, actor_id, role, action, method, path, finding_id, status, detail, chain,
    prev_hash, hash FROM audit_log;

RENAME TABLE audit_log TO audit_log_0020, audit_log_v2 TO audit_log;
