-- Dead letters: input the workers rejected (schemas/control.DeadLetter), kept so the bureau can see what
-- department systems sent and why it was refused. Same SQL subset as 0001 (ClickHouse 18.16 and current).
--
-- One row per rejected source message: a worker that handles the message again (at-least-once) writes the
-- same key, and the latest failure wins in FINAL. failed_at changes on such a retry, so the table is not
-- partitioned by it (FINAL only collapses rows within one partition); dead letters are few.
CREATE TABLE IF NOT EXISTS dead_letters
(
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    reason String,
    key_b64 Nullable(String),     -- the message key, base64
    value_b64 String,             -- the raw message bytes, base64: nothing is lost
    value_text String,            -- the same bytes as UTF-8 (invalid bytes replaced), cut to 2000 characters
    failed_at DateTime('Asia/Shanghai'),
    ingested_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = ReplacingMergeTree(failed_at)
ORDER BY (source_topic, source_partition, source_offset);
