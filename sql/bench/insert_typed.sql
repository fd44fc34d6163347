\set s random(1, 10000000)
\set t random(0, 5)
INSERT INTO assertions (subject, predicate, object, source, tier, confidence) VALUES (:s::text, 'status', 'approved', 'bench', :t, 0.5);
