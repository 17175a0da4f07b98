-- The scoreboard (sinks/scoreboard.py): the rankings views materialised into scoreboard_department and
-- scoreboard_staff, rebuilt whole and swapped in when their inputs change. Each rebuild records here when it
-- read its inputs (as_of: what the console shows as 截至), a fingerprint of the inputs' parts (so an
-- unchanged database is not recomputed), how long it took and how many rows it made. One row per board
-- after merges (read with FINAL).
CREATE TABLE IF NOT EXISTS scoreboard_refreshes
(
    board String,
    as_of DateTime('Asia/Shanghai'),
    fingerprint UInt64,
    seconds Float64,
    department_rows UInt64,
    staff_rows UInt64
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY board;
