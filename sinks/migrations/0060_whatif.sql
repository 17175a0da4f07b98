-- What-if scenarios (`esup whatif --store NAME`, whatif/store.py): a proposed rules, catalog, calendar or scoring
-- change replayed over a window, kept apart from the live tables. Append-only: storing a name again adds a new
-- run; readers take each scenario's latest run (whatif_runs, the highest stored_at, then run_id).

-- One row per stored run: its window, what changed, the check against the live findings, the whole report.
CREATE TABLE IF NOT EXISTS whatif_runs
(
    scenario String,
    run_id String,
    stored_at DateTime('Asia/Shanghai'),
    window_from Date,
    window_to Date,
    region String,
    changed String,               -- the configuration parts changed, comma-separated
    baseline_ok UInt8,            -- the baseline replay equals the live findings id for id
    findings_added UInt32,
    findings_removed UInt32,
    findings_changed UInt32,
    report String                 -- the JSON report (whatif/report.py)
)
ENGINE = MergeTree
ORDER BY (scenario, stored_at, run_id);

-- The findings a scenario adds, removes or changes (side: added | removed | changed; a changed one as after).
CREATE TABLE IF NOT EXISTS whatif_findings
(
    scenario String,
    run_id String,
    side String,
    finding_id String,
    case_id String,
    rule String,
    category String,
    severity String,
    staff_id String,
    department_id String,
    region_code String,
    detected_at DateTime('Asia/Shanghai')
)
ENGINE = MergeTree
ORDER BY (scenario, run_id, side, finding_id);

-- Monthly scores and ranks before (live) and after (scenario) per department and staff member, in the region
-- the scenario ranked in; an entity missing on one side has rank 0 there.
CREATE TABLE IF NOT EXISTS whatif_scores
(
    scenario String,
    run_id String,
    kind String,                  -- department | staff
    period_start Date,
    region String,
    entity_id String,
    department_id String,
    score_before Nullable(Float64),
    score_after Nullable(Float64),
    rank_before UInt32,
    rank_after UInt32
)
ENGINE = MergeTree
ORDER BY (scenario, run_id, kind, period_start, region, entity_id);
