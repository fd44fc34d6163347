#!/usr/bin/env python3
"""Synthetic claims for the benchmark, as CSV with a header row.

usage: gen.py ROWS [SEED]  > claims.csv

~ROWS/20 subjects x 5 predicates, several claims per pair from sources of
skewed tiers and confidences, observed_at spread over six years, and a few
competing objects per pair so lenses and conflicts have work to do.
"""
import random
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 42)
subjects = max(1, rows // 20)
predicates = ["adverse_event", "dose_mg", "half_life_h", "status", "interacts_with"]
tiers = [0, 1, 2, 3, 4, 5]
tier_weights = [0.03, 0.07, 0.15, 0.2, 0.3, 0.25]
start = 1514764800  # 2018-01-01
span = 6 * 365 * 86400
out = sys.stdout
out.write("subject,predicate,object,source,tier,confidence,observed_at\n")
write = out.write
for i in range(rows):
    s = rng.randrange(subjects)
    p = predicates[rng.randrange(5)]
    obj = f"value-{rng.randrange(3)}"
    tier = rng.choices(tiers, tier_weights)[0]
    conf = round(rng.betavariate(5, 2), 3)
    src = f"src-{rng.randrange(5000)}"
    t = start + rng.randrange(span)
    # observed_at as epoch seconds rendered by the database-neutral ISO form
    y, rem = divmod(t - start, 365 * 86400)
    write(f"{s},{p},{obj},{src},{tier},{conf},{2018 + y}-{1 + rem // (31 * 86400) % 12:02d}-{1 + rem // 86400 % 28:02d} {rem // 3600 % 24:02d}:00:00+00\n")
