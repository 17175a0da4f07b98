-- Tamper-evident findings (streams/chain.py): each finding's content hash and its place in its worker
-- partition's chain; every revision of every finding in finding_chain. `esup verify` recomputes both.
-- Same SQL subset as 0001 (ClickHouse 18.16 and current).
ALTER TABLE findings ADD COLUMN content_hash String DEFAULT '';
ALTER TABLE findings ADD COLUMN chain_partition Int32 DEFAULT -1;
ALTER TABLE findings ADD COLUMN chain_seq UInt64 DEFAULT 0;

CREATE TABLE IF NOT EXISTS finding_chain
(
    chain_partition Int32,
    chain_seq UInt64,
    finding_id String,
    content_hash String,
    prev_hash String,
    chain_hash String,
    case_id String,
    rule String,
    severity String,
    detected_at DateTime('Asia/Shanghai'),
    body String,                  -- the finding as published, JSON: every revision stays queryable
    ingested_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (chain_partition, chain_seq);
