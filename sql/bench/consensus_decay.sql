\set s random(0, :subjects - 1)
SET stemedb.half_life = '30 days';
SELECT object, source, tier FROM consensus WHERE subject = :s;
