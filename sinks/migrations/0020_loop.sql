-- The supervisors' loop (docs/loop.md): responses, decisions and recommendation reports, and the API's audit
-- log. Same SQL subset as 0001 (ClickHouse 18.16 and current releases).

-- One row per loop message (loop/contract.py), written by `esup loop`, which consumes esup.responses.
-- message_id is the idempotency key: a resent message leaves one row in FINAL. Columns that a message type
-- does not have are empty strings (0 for report_within_wd); `body` keeps the whole message as JSON.
CREATE TABLE IF NOT EXISTS loop_messages
(
    message_id String,
    finding_id String,
    type String,                  -- response, decision, recommendation_report
    schema_version UInt8,
    actor_id String,              -- who sent it (the authenticated user)
    department_id String,
    at DateTime('Asia/Shanghai'), -- when it was made
    kind String,                  -- response: explanation, rectification, appeal
    outcome String,               -- decision: confirmed, dismissed, recommendation, accountability
    reason String,                -- decision: why (every decision says why)
    dismissal_reason String,
    recommendation String,
    report_within_wd UInt16,
    measure String,
    target_kind String,
    target_id String,
    text String,
    attachments String,           -- JSON array of {name, sha256, size_bytes}
    body String,
    source_partition Int32,
    source_offset Int64,
    ingested_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (finding_id, message_id);

-- Every API action, append-only (plain MergeTree: rows are never replaced). Each row carries the hash of
-- its content and of the previous row of the same API process (hash chain: an edit, deletion or insertion
-- shows on recomputation); the same rows go to the audit topic.
CREATE TABLE IF NOT EXISTS audit_log
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
    detail String,                -- JSON
    chain String,                 -- the API process's chain id
    prev_hash String,
    hash String
)
ENGINE = MergeTree
ORDER BY (at, audit_id);
