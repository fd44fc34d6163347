-- The PostgreSQL baseline: what a team would build without StemeDB.
-- A table of claims, a table of retractions, and DISTINCT ON views for
-- "latest" and "most authoritative", with indexes that serve them.
CREATE TABLE assertions (
  id          bigserial PRIMARY KEY,
  subject     text NOT NULL,
  predicate   text NOT NULL,
  object      text NOT NULL,
  object_type text NOT NULL DEFAULT 'text',
  source      text NOT NULL,
  tier        smallint NOT NULL DEFAULT 5 CHECK (tier BETWEEN 0 AND 5),
  confidence  double precision NOT NULL DEFAULT 1 CHECK (confidence BETWEEN 0 AND 1),
  agent       text NOT NULL DEFAULT current_user,
  observed_at timestamptz NOT NULL DEFAULT now(),
  asserted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE retractions (
  assertion_id bigint PRIMARY KEY REFERENCES assertions (id),
  reason       text,
  retracted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assertions_recency ON assertions
  (subject, predicate, observed_at DESC, asserted_at DESC, id DESC);
CREATE INDEX assertions_authority ON assertions
  (subject, predicate, tier, confidence DESC, observed_at DESC, asserted_at DESC, id DESC);
CREATE INDEX assertions_predicate ON assertions (predicate);

CREATE VIEW live AS
  SELECT a.* FROM assertions a
  WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.assertion_id = a.id);

CREATE VIEW recency AS
  SELECT DISTINCT ON (subject, predicate) * FROM live
  ORDER BY subject, predicate, observed_at DESC, asserted_at DESC, id DESC;

CREATE VIEW authority AS
  SELECT DISTINCT ON (subject, predicate) * FROM live
  ORDER BY subject, predicate, tier, confidence DESC, observed_at DESC, asserted_at DESC, id DESC;

-- Pairs with at least two distinct live objects (StemeDB also scores them).
CREATE VIEW conflicts AS
  SELECT subject, predicate, count(*) AS claims,
         count(DISTINCT (object_type, object)) AS distinct_objects
  FROM live GROUP BY subject, predicate
  HAVING count(DISTINCT (object_type, object)) > 1;
