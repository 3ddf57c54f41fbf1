-- A content fingerprint per stored event: the sink tells a replay (same event_id, same
-- bytes: a silent duplicate) from a conflicting duplicate (same event_id, other bytes: a
-- dead letter) by comparing it. Rows stored before this migration have '' and count as
-- matching any content, as every duplicate did before.

ALTER TABLE runstream.events_seen ADD COLUMN IF NOT EXISTS payload_sha256 String DEFAULT '';
