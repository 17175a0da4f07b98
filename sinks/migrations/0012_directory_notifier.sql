-- The organisation directory (directory/) and the notifier's delivery ledger (notifier/). Same SQL subset as
-- 0001 (ClickHouse 18.16 and current); empty strings for "none". The views that join findings to the
-- directory are `esup db views`' (directory/views.py): views cannot be TRUNCATEd like the tests' tables.

-- The directory, written whole by `esup directory publish` and by the notifier when the topic changes.
-- The highest version wins in FINAL; an entry removed from the directory is written again with deleted = 1.
CREATE TABLE IF NOT EXISTS directory_departments
(
    id String,
    name String,
    region_code String,
    parent String,
    head String,                  -- staff id of the head (负责人), '' when none
    bureau String,                -- id of the supervising bureau, '' when none
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS directory_staff
(
    id String,
    name String,
    department String,
    roles Array(String),
    email String,
    mobile String,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS directory_bureaus
(
    id String,
    name String,
    region_code String,
    staff Array(String),
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- Every step of every notification (预警推送), appended: the intent ('pending', with the rendered message in
-- payload), each attempt ('sending', then 'sent' or 'failed') and quiet-hour deferrals ('deferred'). A
-- delivery is one (finding, severity, recipient, channel); its state is argMax(status, seq). The
-- accountability at notification time (staff, department, head, bureau) is recorded with it.
CREATE TABLE IF NOT EXISTS notification_deliveries
(
    delivery_id String,
    seq UInt64,                   -- microseconds, strictly increasing per notifier process
    status String,
    finding_id String,
    severity String,
    recipient String,
    channel String,
    reason String,                -- responsible | head | bureau
    escalation UInt8,             -- the case had a lower card before: 升级
    case_id String,
    rule String,
    address String,
    staff_id String,
    staff_name String,
    department_id String,
    department_name String,
    head_id String,
    head_name String,
    bureau_id String,
    attempt UInt32,
    error String,
    next_attempt_at DateTime('Asia/Shanghai'),
    payload String,               -- JSON of the message, on 'pending' rows only
    recorded_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (delivery_id, seq);
