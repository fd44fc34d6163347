\set s random(1, 10000000)
INSERT INTO assertions (subject, predicate, object, source, tier, confidence) VALUES (:s, 'status', 'approved', 'bench', 3, 0.5);
