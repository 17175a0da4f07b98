-- Department names for the rankings and `esup case`: a small dimension the rankings join on department_id.
-- Filled by `esup services up` from the simulated province until an organisation directory takes over
-- (source says which); the latest updated_at wins in FINAL. Same SQL subset as 0001 (18.16 and current).
CREATE TABLE IF NOT EXISTS departments
(
    department_id String,
    name String,
    region_code String,
    kind String,
    source String,
    updated_at DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY department_id;
