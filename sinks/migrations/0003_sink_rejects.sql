-- Records the sink could not turn into a row (any topic): kept with the reason and where they were, so
-- nothing is skipped silently; the sink commits a record's offset only once its row here has landed.
-- Same SQL subset as 0001 (ClickHouse 18.16 and current). One row per source record; a re-read writes
-- the same key again and FINAL keeps one.
CREATE TABLE IF NOT EXISTS sink_rejects
(
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    kind String,                  -- what the sink expected on that topic: events, findings, snapshots…
    reason String,
    key_b64 Nullable(String),     -- the message key, base64 (its first 1 KiB)
    value_b64 String,             -- the raw message bytes, base64 (the first 64 KiB)
    value_length UInt64,          -- the whole message's length in bytes
    value_sha256 String,          -- and its SHA-256, hex
    value_text String,            -- the bytes as UTF-8 (invalid bytes replaced), cut to 2000 characters
    ingested_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (source_topic, source_partition, source_offset);

-- Dead letters now keep at most 64 KiB of the message (schemas/control.DeadLetter), with the whole's
-- length and hash. Rows written before hold the whole message: the sink fills these from it.
ALTER TABLE dead_letters ADD COLUMN value_length UInt64 DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN value_sha256 String DEFAULT '';
ALTER TABLE dead_letters ADD COLUMN truncated UInt8 DEFAULT 0;
