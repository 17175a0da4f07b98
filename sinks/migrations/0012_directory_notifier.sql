-- The organisation directory (directory/), the notifier's delivery ledger (notifier/) and the accountability
-- view that joins findings to names and heads. Same SQL subset as 0001 (ClickHouse 18.16 and current):
-- one JOIN per SELECT, no Nullable keys, empty strings for "none".

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

-- Findings with names and accountability: the responsible staff, the department and its head. Red cards and
-- every deemed acceptance or approval (TIME_*DEEMED*) are also the head's (head_accountable = 1).
CREATE VIEW IF NOT EXISTS findings_accountability AS
SELECT
    finding_id, case_id, rule, category, severity, detected_at, region_code, item_code,
    staff_id, if(staff_name = '', staff_id, staff_name) AS staff_name,
    department_id, if(department_name = '', department_id, department_name) AS department_name,
    head_id, if(head_name = '', head_id, head_name) AS head_name, bureau_id,
    toUInt8(severity = 'red' OR match(rule, '^TIME_.*DEEMED')) AS head_accountable
FROM
(
    SELECT finding_id, case_id, rule, category, severity, detected_at, region_code, item_code, staff_id,
        department_id, staff_name
    FROM
    (
        SELECT finding_id, case_id, rule, category, severity, detected_at, region_code, item_code, staff_id,
            department_id
        FROM findings FINAL
    ) AS f
    ANY LEFT JOIN
    (
        SELECT id AS staff_id, name AS staff_name FROM directory_staff FINAL WHERE deleted = 0
    ) AS s USING staff_id
) AS fs
ANY LEFT JOIN
(
    SELECT department_id, department_name, head_id, head_name, bureau_id
    FROM
    (
        SELECT id AS department_id, name AS department_name, head AS head_id, bureau AS bureau_id
        FROM directory_departments FINAL WHERE deleted = 0
    ) AS d
    ANY LEFT JOIN
    (
        SELECT id AS head_id, name AS head_name FROM directory_staff FINAL WHERE deleted = 0
    ) AS h USING head_id
) AS dh USING department_id;

-- The heads' account per month: red cards and deemed approvals of their departments.
CREATE VIEW IF NOT EXISTS head_accountability AS
SELECT
    toStartOfMonth(detected_at) AS month, department_id, any(department_name) AS department_name,
    head_id, any(head_name) AS head_name,
    countIf(severity = 'red') AS reds,
    countIf(match(rule, '^TIME_.*DEEMED')) AS deemed,
    count() AS findings
FROM findings_accountability
WHERE head_accountable = 1
GROUP BY month, department_id, head_id;
