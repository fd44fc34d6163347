//! Malformed protocol messages: random bytes before the startup packet,
//! absurd and truncated lengths, unknown message types, extended-protocol
//! messages out of order or with garbage fields, invalid UTF-8 — in every
//! connection state. Cases come from a seeded generator (the seed is
//! printed, `STEMEDB_FUZZ_SEED` replays it).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::Client;

use super::assert_healthy;
use crate::support::{Rng, TestServer};

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend(((body.len() + 4) as u32).to_be_bytes());
    m.extend(body);
    m
}

pub fn startup() -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    body.extend(b"user\0stemedb\0database\0stemedb\0\0");
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

fn cstr(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v
}

/// A Parse message: statement name, query, parameter types.
fn parse(name: &[u8], query: &[u8], types: &[u32]) -> Vec<u8> {
    let mut body = cstr(name);
    body.extend(cstr(query));
    body.extend((types.len() as u16).to_be_bytes());
    for t in types {
        body.extend(t.to_be_bytes());
    }
    message(b'P', &body)
}

/// A Bind message with `count` claimed parameters but `values` given.
fn bind(statement: &[u8], count: u16, values: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut body = cstr(b"");
    body.extend(cstr(statement));
    body.extend(0u16.to_be_bytes());
    body.extend(count.to_be_bytes());
    for v in values {
        match v {
            None => body.extend((-1i32).to_be_bytes()),
            Some(v) => {
                body.extend((v.len() as i32).to_be_bytes());
                body.extend(v);
            }
        }
    }
    body.extend(0u16.to_be_bytes());
    message(b'B', &body)
}

const QUERIES: &[&[u8]] = &[
    b"SELECT 1",
    b"SELECT $1",
    b"SELECT object FROM recency WHERE subject = $1",
    b"INSERT INTO assertions (subject, predicate, object, source) VALUES ($1, $2, $3, $4)",
    b"SELECT count(*) FROM assertions WHERE tier = $1::int2",
    b"COPY assertions (subject, predicate, object, source) FROM STDIN",
    b"BEGIN",
    b"SELECT \xff\xfe invalid utf-8",
    b"SELECT '\xc3\x28'",
    b"",
    b";;;",
];

/// Special packets a client may send instead of a startup message: SSL
/// and GSSAPI encryption requests, a cancel request with a random key, a
/// startup with a protocol version we do not speak or without a user.
fn pre_startup(rng: &mut Rng) -> Vec<u8> {
    let code: u32 = *rng.pick(&[80_877_103, 80_877_104, 80_877_102, 196_608, 0x0004_0000, 0]);
    let mut body = code.to_be_bytes().to_vec();
    match rng.below(3) {
        0 => body.extend(rng.bytes(16)),
        1 => body.extend(b"database\0stemedb\0\0"),
        _ => {}
    }
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

/// One generated case: the bytes a client sends after (maybe) starting up.
pub fn case(rng: &mut Rng) -> (bool, Vec<u8>) {
    let started = rng.below(5) != 0;
    let mut out = Vec::new();
    if !started && rng.below(2) == 0 {
        out.extend(pre_startup(rng));
    }
    for _ in 0..=rng.below(6) {
        let q = rng.pick(QUERIES);
        let part = match rng.below(12) {
            0 => rng.bytes(4096),
            1 => {
                // A length far beyond what follows.
                let mut m = vec![*rng.pick(b"QPBEDSHCdcfX?z")];
                m.extend(
                    rng.pick(&[0x7fff_ffffu32, 0x4000_0000, 0xffff_ffff, 3, 0])
                        .to_be_bytes(),
                );
                m.extend(rng.bytes(64));
                m
            }
            2 => message(*rng.pick(b"QPBEDSHCdcfX?z\0\xff"), &rng.bytes(256)),
            3 => message(b'Q', &cstr(q)),
            4 => {
                let types: Vec<u32> = (0..rng.below(4))
                    .map(|_| *rng.pick(&[0, 23, 25, 16, 1009, 0xffff_ffff]))
                    .collect();
                parse(b"", q, &types)
            }
            5 => {
                let values: Vec<Option<Vec<u8>>> = (0..rng.below(4))
                    .map(|_| (rng.below(4) != 0).then(|| rng.bytes(16)))
                    .collect();
                let claimed = *rng.pick(&[values.len() as u16, 0, 1, 65535]);
                bind(b"", claimed, &values)
            }
            6 => message(b'E', &[cstr(b"").as_slice(), &rng.bytes(5)].concat()),
            7 => message(b'D', &[b'S', 0]),
            8 => message(b'S', &[]),
            9 => message(b'd', &rng.bytes(512)),
            10 => {
                // A truncated message: a header and half its body.
                let m = message(b'Q', &cstr(q));
                m[..m.len() / 2].to_vec()
            }
            _ => message(b'H', &[]),
        };
        out.extend(part);
    }
    (started, out)
}

/// Sends one case and reads whatever comes back until the server closes
/// the connection or stays quiet for a moment.
async fn send(port: u16, started: bool, bytes: &[u8]) {
    let Ok(mut socket) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    if started {
        let _ = socket.write_all(&startup()).await;
    }
    let _ = socket.write_all(bytes).await;
    let mut buf = vec![0u8; 64 << 10];
    let quiet = Duration::from_millis(200);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match tokio::time::timeout(quiet, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
}

pub async fn run(server: &mut TestServer, bystander: &Client, start_rss: u64) {
    let seed = std::env::var("STEMEDB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let secs: u64 = std::env::var("STEMEDB_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    println!("protocol fuzz: STEMEDB_FUZZ_SEED={seed} for {secs} s");
    let mut rng = Rng(seed);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut cases = 0u64;
    while Instant::now() < end {
        let (started, bytes) = case(&mut rng);
        send(server.port, started, &bytes).await;
        cases += 1;
        if cases.is_multiple_of(50) {
            let label = format!("fuzz case {cases} (seed {seed})");
            assert_healthy(server, bystander, start_rss, &label).await;
        }
    }
    let label = format!("the last fuzz case, {cases} cases (seed {seed})");
    assert_healthy(server, bystander, start_rss, &label).await;
    println!("protocol fuzz: {cases} cases, server healthy");
}
