-- The three tables of the platform. The SQL is the subset that Debian's ClickHouse 18.16 and current
-- releases both accept: no DateTime64, TTL, LowCardinality or JSON types; JSON is kept as String.
--
-- Every table is a ReplacingMergeTree keyed by its id, so a replay or a second worker that writes the
-- same row again leaves one row in `SELECT ... FINAL`. FINAL only collapses rows inside one partition,
-- so a table is partitioned by time only when that time never changes for a given id.
-- Times are Beijing time (DateTime('Asia/Shanghai')), to the second.

-- One row per case event as received (the contract in schemas/events.py). occurred_at of an event never
-- changes, so monthly partitions are safe. The latest ingestion wins.
CREATE TABLE IF NOT EXISTS case_events
(
    event_id String,
    case_id String,
    kind String,
    schema_version UInt8,
    item_code String,
    department_id String,
    region_code String,
    staff_id String,
    occurred_at DateTime('Asia/Shanghai'),
    recorded_at DateTime('Asia/Shanghai'),
    payload String,               -- the kind-specific payload, as JSON
    source_partition Int32 DEFAULT -1,
    source_offset Int64 DEFAULT -1,
    ingested_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (case_id, event_id);

-- Every field of schemas/findings.Finding. A finding's detected_at can move (a provisional deadline is
-- recomputed once the holiday calendar is published), so the table is not partitioned by it; the row
-- with the highest version (the writer's clock, e.g. milliseconds) wins.
CREATE TABLE IF NOT EXISTS findings
(
    finding_id String,
    schema_version UInt8,
    case_id String,
    rule String,
    category String,
    severity String,
    title String,
    message String,
    staff_id String,
    department_id String,
    region_code String,
    item_code String,
    detected_at DateTime('Asia/Shanghai'),
    deadline Nullable(DateTime('Asia/Shanghai')),
    law_article Nullable(String),
    evidence_event_ids Array(String),
    calendar_version String,
    provisional UInt8,
    details String,               -- JSON object
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY finding_id;

-- The latest state of each case (schemas/snapshots.CaseSnapshot). decision_deadline and
-- working_days_used come from the decision clock (the one the rankings use); every clock is kept in
-- `clocks` as JSON. updated_at (the snapshot's as_of) moves with every event, so there is no time
-- partition: one case, one row after FINAL; the highest version (the state's sequence number) wins.
CREATE TABLE IF NOT EXISTS case_snapshots
(
    case_id String,
    item_code String,
    department_id String,
    region_code String,
    responsible_staff String,
    first_staff String,
    stage String,
    outcome Nullable(String),
    open UInt8,
    deemed_accepted UInt8,
    decision_deadline Nullable(DateTime('Asia/Shanghai')),
    working_days_used Int32,
    next_due Nullable(DateTime('Asia/Shanghai')),
    last_event_at Nullable(DateTime('Asia/Shanghai')),
    provisional UInt8,
    calendar_version String,
    clocks String,                -- JSON array of schemas/snapshots.ClockView
    updated_at DateTime('Asia/Shanghai'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY case_id;
