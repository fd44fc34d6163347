\set s random(0, :subjects - 1)
SELECT object, source, tier FROM consensus WHERE subject = :s;
