//! `stemedb.explain` and the `consensus` lens against a straightforward
//! model, on random pairs written to a real server: claims with ties on
//! every rule (tier, confidence, observed_at; `1` as text and as a number),
//! retractions, per-source trust (a prefix, a longer one inside it, a zero
//! weight), decay, and time travel to a moment between two rounds of
//! writes. Every (pair, lens, time) explained must list the model's rows —
//! order, `decided_by`, `retracted`, weight — and the `consensus` table and
//! `beliefs` under `stemedb.lens = 'consensus'` must show the model's
//! winner. Claims are written one statement each, so their order of
//! acceptance (the HLC the lenses break ties with) is the order written.

use std::collections::HashMap;

use crate::support::{Rng, TestServer};

/// Tier weights, as docs/sql.md gives them.
const TIER_WEIGHT: [f64; 6] = [1.0, 0.8, 0.6, 0.4, 0.2, 0.1];
/// Source prefixes and their trust.
const TRUST: [(&str, f64); 3] = [
    ("https://a.example/", 0.5),
    ("https://a.example/deep/", 2.0),
    ("https://b.example/", 0.0),
];
const SOURCES: [&str; 4] = [
    "https://a.example/",
    "https://a.example/deep/",
    "https://b.example/",
    "https://c.example/",
];
const DAY: i64 = 86_400_000_000;
/// 2026-01-01 in µs since the epoch: observed_at values are days after it.
const EPOCH_2026: i64 = 1_767_225_600_000_000;
const HALF_LIFE_DAYS: i64 = 30;

#[derive(Debug, Clone)]
struct Claim {
    id: String,
    object: String,
    number: bool,
    source: String,
    tier: i16,
    confidence: f64,
    observed_at: i64,
    /// Order of acceptance.
    seq: usize,
    /// Written before the time-travel point.
    early: bool,
    /// Retracted before (`Some(true)`) or after (`Some(false)`) it.
    retracted: Option<bool>,
}

fn trust(source: &str) -> f64 {
    TRUST
        .iter()
        .filter(|(p, _)| source.starts_with(p))
        .max_by_key(|(p, _)| p.len())
        .map_or(1.0, |(_, w)| *w)
}

fn weight(c: &Claim, at: Option<i64>) -> f64 {
    let mut w = c.confidence * TIER_WEIGHT[c.tier as usize] * trust(&c.source);
    if let Some(at) = at {
        let age = (at - c.observed_at).max(0);
        w *= 0.5f64.powf(age as f64 / (HALF_LIFE_DAYS * DAY) as f64);
    }
    w
}

fn units(w: f64) -> i128 {
    (w * (1u64 << 48) as f64).round() as i128
}

/// What explain shows for one claim.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: String,
    retracted: bool,
    decided_by: String,
    weight: f64,
}

fn recency_steps(a: &Claim, b: &Claim) -> &'static str {
    if a.observed_at != b.observed_at {
        "observed_at"
    } else if a.seq != b.seq {
        "asserted_at"
    } else {
        "id"
    }
}

fn authority_steps(a: &Claim, b: &Claim) -> &'static str {
    if a.tier != b.tier {
        "tier"
    } else if a.confidence != b.confidence {
        "confidence"
    } else {
        recency_steps(a, b)
    }
}

/// One group of claims (live, or retracted) as the lens orders them, each
/// with the step that put it behind the one above.
fn model_group(lens: &str, claims: Vec<&Claim>, decay_at: Option<i64>) -> Vec<(Claim, String)> {
    let mut out = Vec::new();
    match lens {
        "consensus" => {
            // Objects by total weight (fixed point), first object in (text,
            // type) order on a tie; by number of claims when all weigh 0.
            let mut objects: Vec<((String, bool), Vec<&Claim>)> = Vec::new();
            for c in claims {
                let key = (c.object.clone(), c.number);
                match objects.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(c),
                    None => objects.push((key, vec![c])),
                }
            }
            // Type order: text before number (the server's tag order).
            objects.sort_by(|a, b| a.0.cmp(&b.0));
            let total =
                |v: &Vec<&Claim>| v.iter().map(|c| units(weight(c, decay_at))).sum::<i128>();
            let all_zero = objects.iter().all(|(_, v)| total(v) == 0);
            let mut ranked: Vec<(usize, &Vec<&Claim>)> =
                objects.iter().map(|(_, v)| v).enumerate().collect();
            ranked.sort_by(|(i, a), (j, b)| {
                let by = if all_zero {
                    b.len().cmp(&a.len())
                } else {
                    total(b).cmp(&total(a))
                };
                by.then(i.cmp(j))
            });
            for (n, (_, side)) in ranked.into_iter().enumerate() {
                let mut side = side.clone();
                side.sort_by(|a, b| {
                    units(weight(b, decay_at))
                        .cmp(&units(weight(a, decay_at)))
                        .then(b.observed_at.cmp(&a.observed_at))
                        .then(b.seq.cmp(&a.seq))
                });
                for (k, c) in side.iter().enumerate() {
                    let step = if k == 0 {
                        if n == 0 { "" } else { "weight" }
                    } else if units(weight(side[k - 1], decay_at)) != units(weight(c, decay_at)) {
                        "weight"
                    } else {
                        recency_steps(side[k - 1], c)
                    };
                    out.push(((*c).clone(), step.to_string()));
                }
            }
        }
        lens => {
            let mut sorted = claims;
            let key = |c: &Claim| (c.observed_at, c.seq);
            if lens == "authority" {
                sorted.sort_by(|a, b| {
                    a.tier
                        .cmp(&b.tier)
                        .then(b.confidence.total_cmp(&a.confidence))
                        .then(key(b).cmp(&key(a)))
                });
            } else {
                sorted.sort_by_key(|c| std::cmp::Reverse(key(c)));
            }
            for (k, c) in sorted.iter().enumerate() {
                let step = match (k, lens) {
                    (0, _) => "",
                    (_, "authority") => authority_steps(sorted[k - 1], c),
                    _ => recency_steps(sorted[k - 1], c),
                };
                out.push(((*c).clone(), step.to_string()));
            }
        }
    }
    out
}

/// The model's explanation of a pair (`early`: at the time-travel point,
/// with decay measured from it).
fn model(claims: &[Claim], lens: &str, early: Option<i64>) -> Vec<Row> {
    let seen: Vec<&Claim> = claims
        .iter()
        .filter(|c| early.is_none() || c.early)
        .collect();
    let retracted = |c: &Claim| match early {
        Some(_) => c.retracted == Some(true),
        None => c.retracted.is_some(),
    };
    let live = seen.iter().copied().filter(|c| !retracted(c)).collect();
    let gone: Vec<&Claim> = seen.iter().copied().filter(|c| retracted(c)).collect();
    let mut rows = Vec::new();
    let n_live = {
        let group = model_group(lens, live, early);
        let n = group.len();
        rows.extend(group.into_iter().map(|g| (g, false)));
        n
    };
    rows.extend(
        model_group(lens, gone, early)
            .into_iter()
            .map(|g| (g, true)),
    );
    rows.into_iter()
        .enumerate()
        .map(|(i, ((c, step), r))| Row {
            id: c.id.clone(),
            retracted: r,
            decided_by: match i {
                0 if !r => "winner".into(),
                i if i == n_live => "retracted".into(),
                _ => step,
            },
            weight: weight(&c, early),
        })
        .collect()
}

fn random_claim(rng: &mut Rng, pair: usize, seq: usize, early: bool) -> Claim {
    let (object, number) = [("1", false), ("1", true), ("x", false), ("y", false)][rng.index(4)];
    Claim {
        id: String::new(),
        object: object.into(),
        number,
        source: format!("{}{pair}/{seq}", SOURCES[rng.index(4)]),
        tier: [0, 1, 4][rng.index(3)],
        confidence: [0.0, 0.5, 1.0][rng.index(3)],
        observed_at: EPOCH_2026 + DAY * [0, 10, 40][rng.index(3)],
        seq,
        early,
        retracted: None,
    }
}

/// `observed_at` as a date.
fn observed(at: i64) -> &'static str {
    match (at - EPOCH_2026) / DAY {
        0 => "2026-01-01",
        10 => "2026-01-11",
        _ => "2026-02-10",
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

async fn write(client: &tokio_postgres::Client, c: &mut Claim, pair: usize) {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO assertions (subject, predicate, object, object_type, source, tier, \
                 confidence, observed_at) VALUES ($1, 'p', $2, $3, $4, $5, $6, '{}') RETURNING id",
                observed(c.observed_at)
            ),
            &[
                &format!("pair{pair}"),
                &c.object,
                &(if c.number { "number" } else { "text" }),
                &c.source,
                &c.tier,
                &c.confidence,
            ],
        )
        .await
        .unwrap();
    c.id = row.get(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_consensus_match_the_model() {
    let pairs: usize = std::env::var("STEMEDB_MODEL_PAIRS").map_or(1_050, |v| v.parse().unwrap());
    let server = TestServer::start();
    let client = server.connect().await;
    for (prefix, w) in TRUST {
        client
            .execute(
                "INSERT INTO stemedb.source_trust VALUES ($1, $2) \
                 ON CONFLICT (source_prefix) DO UPDATE SET weight = EXCLUDED.weight",
                &[&prefix, &w],
            )
            .await
            .unwrap();
    }
    let mut rng = Rng(0x0005_EED0_FC04_5E25_u64);
    let mut claims: Vec<Vec<Claim>> = vec![Vec::new(); pairs];
    let mut seq = 0;
    // Two rounds of claims and retractions, the time-travel point between.
    let (mut early_at, mut early_text) = (0, String::new());
    for round in [true, false] {
        for (pair, held) in claims.iter_mut().enumerate() {
            for _ in 0..1 + rng.index(3) {
                let mut c = random_claim(&mut rng, pair, seq, round);
                seq += 1;
                write(&client, &mut c, pair).await;
                held.push(c);
            }
            for c in held.iter_mut() {
                if c.retracted.is_none() && rng.index(5) == 0 {
                    client
                        .execute(
                            "INSERT INTO retractions (assertion_id, reason) VALUES ($1, 'model')",
                            &[&c.id],
                        )
                        .await
                        .unwrap();
                    c.retracted = Some(round);
                }
            }
        }
        if round {
            let last = client
                .query_one(
                    "SELECT CAST(max(t) AS BIGINT), CAST(max(t) AS TEXT) FROM \
                     (SELECT asserted_at AS t FROM assertions \
                      UNION ALL SELECT retracted_at AS t FROM retractions)",
                    &[],
                )
                .await
                .unwrap();
            (early_at, early_text) = (last.get(0), last.get(1));
            // Later writes must be stamped after it.
            let later =
                crate::support::cluster::wait_for(std::time::Duration::from_secs(5), || {
                    now_micros() > early_at + 1_000
                });
            assert!(later);
        }
    }

    let explain = client
        .prepare("SELECT assertion_id, retracted, decided_by, weight FROM stemedb.explain($1, 'p', $2) ORDER BY rank")
        .await
        .unwrap();
    let mut cases = 0;
    let mut ties = HashMap::<String, usize>::new();
    for time in [None, Some(early_at)] {
        match time {
            None => client.batch_execute("RESET stemedb.as_of; RESET stemedb.half_life").await,
            Some(_) => {
                client
                    .batch_execute(&format!(
                        "SET stemedb.as_of = '{early_text}'; SET stemedb.half_life = '{HALF_LIFE_DAYS} days'"
                    ))
                    .await
            }
        }
        .unwrap();
        for lens in ["recency", "authority", "consensus"] {
            for (pair, held) in claims.iter().enumerate() {
                let expected = model(held, lens, time);
                let got: Vec<Row> = client
                    .query(&explain, &[&format!("pair{pair}"), &lens])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| Row {
                        id: r.get(0),
                        retracted: r.get(1),
                        decided_by: r.get(2),
                        weight: r.get(3),
                    })
                    .collect();
                let at = format!("pair{pair}, {lens}, as_of {time:?}");
                assert_eq!(got.len(), expected.len(), "{at}: {got:#?} vs {expected:#?}");
                for (g, e) in got.iter().zip(&expected) {
                    assert_eq!(
                        (&g.id, g.retracted, &g.decided_by),
                        (&e.id, e.retracted, &e.decided_by),
                        "{at}: {got:#?} vs {expected:#?}"
                    );
                    assert!(
                        (g.weight - e.weight).abs() <= 1e-12 * e.weight.abs().max(1.0),
                        "{at}"
                    );
                    *ties.entry(format!("{lens}:{}", e.decided_by)).or_default() += 1;
                }
                cases += 1;
            }
            // The consensus winners, read as a table and through beliefs.
            if lens == "consensus" {
                for sql in [
                    "SELECT subject, assertion_id FROM consensus",
                    "SET stemedb.lens = 'consensus'; SELECT subject, assertion_id FROM beliefs",
                ] {
                    let mut winners: HashMap<String, String> = HashMap::new();
                    for message in client.simple_query(sql).await.unwrap() {
                        if let tokio_postgres::SimpleQueryMessage::Row(r) = message {
                            winners.insert(r.get(0).unwrap().into(), r.get(1).unwrap().into());
                        }
                    }
                    for (pair, held) in claims.iter().enumerate() {
                        let expected = model(held, "consensus", time);
                        let winner = expected.first().filter(|r| !r.retracted).map(|r| &r.id);
                        assert_eq!(
                            winners.get(&format!("pair{pair}")),
                            winner,
                            "pair{pair} {sql}"
                        );
                        cases += 1;
                    }
                }
                client.batch_execute("RESET stemedb.lens").await.unwrap();
            }
        }
    }
    eprintln!("{cases} cases; rows by lens and step: {ties:?}");
    assert!(cases >= 10_000, "{cases} cases");
    // Every step of every lens decided some row (the ties were there).
    for step in [
        "winner",
        "tier",
        "confidence",
        "observed_at",
        "asserted_at",
        "retracted",
    ] {
        assert!(
            ties.contains_key(&format!("authority:{step}")),
            "authority never by {step}: {ties:?}"
        );
    }
    for step in [
        "winner",
        "weight",
        "observed_at",
        "asserted_at",
        "retracted",
    ] {
        assert!(
            ties.contains_key(&format!("consensus:{step}")),
            "consensus never by {step}: {ties:?}"
        );
    }
}

async fn winner(client: &tokio_postgres::Client) -> String {
    client
        .query_one("SELECT object FROM consensus WHERE subject = 's'", &[])
        .await
        .unwrap()
        .get(0)
}

/// Source trust is the cluster's to set: only `stemedb_admin` writes it,
/// everyone reads it, and what an administrator sets changes what another
/// role's `consensus` shows.
#[tokio::test(flavor = "multi_thread")]
async fn only_administrators_set_source_trust() {
    let server = TestServer::start_with(&[("STEMEDB_PASSWORD", "boot")]);
    let login = |user, password| crate::security::login(&server, user, password);
    let admin = login("stemedb", "boot").await.unwrap();
    admin
        .batch_execute(
            "CREATE ROLE analyst LOGIN PASSWORD 'a-pw';
             GRANT pg_read_all_data TO analyst; GRANT pg_write_all_data TO analyst;
             INSERT INTO assertions (subject, predicate, object, source, tier) VALUES
               ('s', 'p', 'many', 'forum:1', 4), ('s', 'p', 'many', 'forum:2', 4),
               ('s', 'p', 'one', 'lab:1', 2)",
        )
        .await
        .unwrap();
    let analyst = login("analyst", "a-pw").await.unwrap();
    assert_eq!(winner(&analyst).await, "one"); // 0.6 against 2 × 0.2
    for sql in [
        "INSERT INTO stemedb.source_trust VALUES ('forum:', 2)",
        "INSERT INTO stemedb.source_trust VALUES ('forum:', 2) \
         ON CONFLICT (source_prefix) DO UPDATE SET weight = EXCLUDED.weight",
        "DELETE FROM stemedb.source_trust",
    ] {
        let e = analyst.batch_execute(sql).await.expect_err(sql);
        assert_eq!(crate::support::sqlstate(&e), "42501", "{sql}: {e:?}");
    }
    admin
        .batch_execute("INSERT INTO stemedb.source_trust VALUES ('forum:', 2)")
        .await
        .unwrap();
    let seen = analyst
        .query_one(
            "SELECT weight FROM stemedb.source_trust WHERE source_prefix = 'forum:'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, f64>(0);
    assert_eq!(seen, 2.0);
    assert_eq!(winner(&analyst).await, "many"); // 2 × 0.4 against 0.6
}
