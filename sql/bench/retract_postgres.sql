\set s random(0, :subjects - 1)
INSERT INTO retractions (assertion_id, reason) SELECT id, 'bench' FROM recency WHERE subject = :s AND predicate = 'status';
