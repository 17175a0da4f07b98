-- Complaints (docs/complaints.md): one row per complaint message (complaints/contract.py), written by
-- `esup complaints run` with the sink's role. Personal data is never here in clear: the sealed contact stays
-- on Kafka; only its salted hash (contact_hash, to count repeat complainants) is kept, and the free texts are
-- stored with phone numbers, ID numbers and e-mail addresses masked (complaints/store.py). Same SQL subset as
-- 0001. message_id is the idempotency key: a resent message leaves one row in FINAL.
CREATE TABLE IF NOT EXISTS complaint_messages
(
    message_id String,
    complaint_id String,
    type String,                  -- received, registered, dispatched, accepted, extended, replied, evaluated,
                                  -- reopened, closed
    schema_version UInt8,
    actor_id String,
    at DateTime('Asia/Shanghai'),
    channel String,               -- received: web, hotline, letter, in_person
    category String,              -- efficiency, attitude, fees, misconduct, other
    department_id String,
    staff_id String,
    case_id String,
    region_code String,
    contact_hash String,          -- HMAC-SHA256 of the normalised phone (never the phone)
    text String,                  -- the message's text (complaint, note, reason, result, comment, finding), masked
    extra_wd UInt16,              -- extended: working days added
    rating String,                -- evaluated: satisfied, unsatisfied
    substantiated Int8,           -- closed: 1 substantiated, 0 not; -1 for other types
    source_partition Int32,
    source_offset Int64,
    ingested_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (complaint_id, message_id);
