-- Two clients may retract the same winner at once: StemeDB keeps one
-- retraction per claim (a second is a no-op), and so does this.
\set s random(0, :subjects - 1)
INSERT INTO retractions (assertion_id, reason) SELECT id, 'bench' FROM recency WHERE subject = :s AND predicate = 'status' ON CONFLICT DO NOTHING;
