\set s random(0, :subjects - 1)
SELECT object, source, tier FROM bench_views.trusted WHERE subject = :s;
