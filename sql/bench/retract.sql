\set s random(0, :subjects - 1)
INSERT INTO retractions (assertion_id, reason) SELECT assertion_id, 'bench' FROM recency WHERE subject = :s AND predicate = 'status';
