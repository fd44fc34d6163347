\set s random(0, :subjects - 1)
SELECT object, source, tier FROM authority WHERE subject = :s;
