-- StemeDB demo data: sources of uneven quality that disagree.
-- Load with:  psql -h 127.0.0.1 -p 18180 -U stemedb stemedb -f sql/demo.sql

-- 1. A drug-safety signal: does drug "zelmorin" cause liver injury?
--    The regulator says yes (tier 0), a trial found no signal (tier 1),
--    a patient forum reports something else entirely (tier 4).
INSERT INTO assertions (subject, predicate, object, source, tier, confidence, agent, observed_at) VALUES
  ('drug:zelmorin', 'adverse_event', 'hepatotoxicity', 'https://regulator.example/label/zelmorin-2023', 0, 0.92, 'pharmacovigilance-team', '2023-09-14 00:00:00+00'),
  ('drug:zelmorin', 'adverse_event', 'no significant signal', 'https://trials.example/NCT0421337', 1, 0.81, 'trial-ingest', '2024-02-01 00:00:00+00'),
  ('drug:zelmorin', 'adverse_event', 'insomnia', 'https://forum.example/t/zelmorin-side-effects/118', 4, 0.35, 'forum-scraper', '2024-11-03 00:00:00+00'),
  ('drug:zelmorin', 'max_daily_dose_mg', '400', 'https://regulator.example/label/zelmorin-2023', 0, 1.0, 'pharmacovigilance-team', '2023-09-14 00:00:00+00'),
  ('drug:zelmorin', 'max_daily_dose_mg', '600.0', 'https://pharmacy.example/monograph/zelmorin', 3, 0.7, 'monograph-ingest', '2024-06-20 00:00:00+00');

INSERT INTO assertions (subject, predicate, object, object_type, source, tier, confidence, agent, observed_at) VALUES
  ('drug:zelmorin', 'half_life_h', '11.50', 'number', 'https://doi.example/10.1000/pk.2022.77', 1, 0.9, 'literature-agent', '2022-05-10 00:00:00+00'),
  ('drug:zelmorin', 'half_life_h', '14', 'number', 'https://observational.example/cohort-9', 2, 0.6, 'literature-agent', '2024-03-02 00:00:00+00'),
  ('drug:zelmorin', 'requires_prescription', 'TRUE', 'boolean', 'https://regulator.example/label/zelmorin-2023', 0, 1.0, 'pharmacovigilance-team', '2023-09-14 00:00:00+00');

-- 2. A research agent's claims about a company, with a later correction.
INSERT INTO assertions (subject, predicate, object, source, tier, confidence, agent, observed_at) VALUES
  ('org:acme-robotics', 'headquarters', 'Boston', 'https://news.example/2021/acme-moves', 3, 0.6, 'research-agent-7', '2021-04-01 00:00:00+00'),
  ('org:acme-robotics', 'headquarters', 'Pittsburgh', 'https://sec.example/filings/acme-10k-2024', 0, 0.98, 'filings-ingest', '2024-03-15 00:00:00+00'),
  ('org:acme-robotics', 'employees', '1200', 'https://jobs.example/acme', 4, 0.4, 'research-agent-7', '2024-08-01 00:00:00+00'),
  ('org:acme-robotics', 'employees', '950', 'https://sec.example/filings/acme-10k-2024', 0, 0.95, 'filings-ingest', '2024-03-15 00:00:00+00');

-- 3. Threat intelligence: is this IP a command-and-control server?
INSERT INTO assertions (subject, predicate, object, object_type, source, tier, confidence, agent, observed_at) VALUES
  ('ip:203.0.113.42', 'malicious', 'true', 'boolean', 'https://cert.example/advisory/2024-117', 0, 0.9, 'cti-feed', '2024-10-02 00:00:00+00'),
  ('ip:203.0.113.42', 'malicious', 'false', 'boolean', 'https://reputation.example/ip/203.0.113.42', 2, 0.7, 'cti-feed', '2024-11-20 00:00:00+00'),
  ('ip:203.0.113.42', 'attributed_to', 'group:ta-505', 'ref', 'https://vendor.example/report/ta505-q3', 3, 0.5, 'analyst:kim', '2024-09-12 00:00:00+00');

-- A mistaken claim, withdrawn (it stays in `assertions`, marked retracted).
INSERT INTO assertions (subject, predicate, object, source, tier, confidence, agent) VALUES
  ('drug:zelmorin', 'adverse_event', 'hair loss', 'https://forum.example/t/spam-4411', 5, 0.1, 'forum-scraper');
INSERT INTO retractions (assertion_id, reason)
  SELECT id, 'spam thread, moderator removed it' FROM assertions WHERE source = 'https://forum.example/t/spam-4411';
