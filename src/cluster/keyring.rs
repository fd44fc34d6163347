//! The cluster's keyring (`[cluster] secrets`, or one `secret`): the keys
//! gossip is sealed with and the token node-to-node calls carry, derived
//! from each secret. The first secret seals and signs; every one is
//! accepted — so a secret is replaced online, node by node (add the new
//! one second everywhere, then make it first, then drop the old one:
//! docs/operations.md), and a reload swaps the keys in place.
//!
//! A gossip packet is `nonce (12) ‖ ChaCha20-Poly1305(time (8) ‖ payload)`:
//! encrypted and authenticated, stamped with the sender's wall clock in
//! seconds; one stamped more than [`REPLAY_WINDOW`] away from this node's
//! clock is dropped, so a recorded packet cannot be replayed later. With
//! no secret (loopback only) the keyring holds the key of the empty one.

use std::sync::RwLock;
use std::time::Duration;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// How far a gossip packet's stamp may be from this node's clock.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(30);

const STAMP_BYTES: usize = 8;

struct Keys {
    gossip: Vec<LessSafeKey>,
    rpc: Vec<blake3::Hash>,
}

pub struct Keyring {
    keys: RwLock<Keys>,
}

/// Why a packet was not opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No key of the keyring opens it (another cluster's secret, or
    /// tampered with).
    Unsealed,
    /// Stamped this many seconds away from this node's clock.
    Stale(u64),
}

fn keys(secrets: &[String]) -> Keys {
    let empty = [String::new()];
    let secrets = if secrets.is_empty() {
        &empty[..]
    } else {
        secrets
    };
    let gossip = secrets
        .iter()
        .map(|s| {
            let key = blake3::derive_key("stemedb 2026 cluster gossip v2", s.as_bytes());
            // A 32-byte key is always a valid ChaCha20-Poly1305 key.
            let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a 32-byte key");
            LessSafeKey::new(unbound)
        })
        .collect();
    let rpc = secrets
        .iter()
        .map(|s| {
            blake3::Hash::from(blake3::derive_key(
                "stemedb 2026 cluster rpc v1",
                s.as_bytes(),
            ))
        })
        .collect();
    Keys { gossip, rpc }
}

impl Keyring {
    pub fn new(secrets: &[String]) -> Keyring {
        Keyring {
            keys: RwLock::new(keys(secrets)),
        }
    }

    /// Takes `secrets` in place of the ones held (a reload).
    pub fn set(&self, secrets: &[String]) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys(secrets);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The token this node's calls carry (the first secret's), in hex.
    pub fn token(&self) -> String {
        self.read().rpc[0].to_hex().to_string()
    }

    /// Whether `token` (hex) is one of the keyring's (compared in constant
    /// time).
    pub fn accepts(&self, token: &str) -> bool {
        let Ok(given) = blake3::Hash::from_hex(token) else {
            return false;
        };
        // Every key is compared, so the time taken says nothing of which.
        self.read()
            .rpc
            .iter()
            .fold(false, |found, t| found | (*t == given))
    }

    /// Seals `payload` with the first key under `nonce` (unique per
    /// packet: [`Nonces`]), stamped `now_secs`.
    pub fn seal(&self, nonce: [u8; NONCE_LEN], now_secs: u64, payload: &[u8]) -> Vec<u8> {
        let mut sealed = Vec::with_capacity(NONCE_LEN + STAMP_BYTES + payload.len() + 16);
        sealed.extend_from_slice(&nonce);
        let mut body = Vec::with_capacity(STAMP_BYTES + payload.len() + 16);
        body.extend_from_slice(&now_secs.to_le_bytes());
        body.extend_from_slice(payload);
        let keys = self.read();
        let sealing = keys.gossip[0].seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut body,
        );
        // Sealing fails only for a message beyond ChaCha20's 256 GiB.
        sealing.expect("a gossip packet is small");
        sealed.extend_from_slice(&body);
        sealed
    }

    /// The payload of `packet` if a key of the keyring opens it and its
    /// stamp is within [`REPLAY_WINDOW`] of `now_secs`.
    pub fn open(&self, packet: &[u8], now_secs: u64) -> Result<Vec<u8>, Refused> {
        if packet.len() < NONCE_LEN + STAMP_BYTES + CHACHA20_POLY1305.tag_len() {
            return Err(Refused::Unsealed);
        }
        let (nonce, body) = packet.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Refused::Unsealed)?;
        for key in &self.read().gossip {
            let mut opened = body.to_vec();
            let Ok(plain) = key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut opened,
            ) else {
                continue;
            };
            let (stamp, payload) = plain.split_at(STAMP_BYTES);
            let stamp = u64::from_le_bytes(stamp.try_into().map_err(|_| Refused::Unsealed)?);
            let apart = stamp.abs_diff(now_secs);
            if apart > REPLAY_WINDOW.as_secs() {
                return Err(Refused::Stale(apart));
            }
            return Ok(payload.to_vec());
        }
        Err(Refused::Unsealed)
    }
}

/// Nonces for one run of gossip: a prefix unique to the node and its start
/// (its id and generation) and a counter, so no two packets sealed with
/// one key share a nonce — and a simulation replays the same ones.
pub struct Nonces {
    prefix: [u8; 4],
    sent: u64,
}

impl Nonces {
    pub fn new(node: &str, generation: u64) -> Nonces {
        let mut hasher = blake3::Hasher::new();
        hasher.update(node.as_bytes());
        hasher.update(&generation.to_le_bytes());
        let mut prefix = [0u8; 4];
        prefix.copy_from_slice(&hasher.finalize().as_bytes()[..4]);
        Nonces { prefix, sent: 0 }
    }

    pub fn fresh(&mut self) -> [u8; NONCE_LEN] {
        self.sent += 1;
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&self.prefix);
        nonce[4..].copy_from_slice(&self.sent.to_le_bytes());
        nonce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secrets: &[&str]) -> Keyring {
        Keyring::new(&secrets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn packets_open_with_any_key_of_the_ring_and_only_while_fresh() {
        let mut nonces = Nonces::new("node1", 7);
        let old = ring(&["k1"]);
        let packet = old.seal(nonces.fresh(), 1_000, b"hello");
        assert!(!packet.windows(5).any(|w| w == b"hello"), "sealed in clear");
        // A node in the middle of a rotation takes both secrets.
        let both = ring(&["k2", "k1"]);
        assert_eq!(both.open(&packet, 1_010).unwrap(), b"hello");
        let sealed_new = both.seal(nonces.fresh(), 1_000, b"again");
        assert_eq!(
            ring(&["k1", "k2"]).open(&sealed_new, 1_000).unwrap(),
            b"again"
        );
        assert_eq!(old.open(&sealed_new, 1_000), Err(Refused::Unsealed));
        assert_eq!(
            ring(&["other"]).open(&packet, 1_000),
            Err(Refused::Unsealed)
        );
        // A replay after the window, or a packet from a clock far off.
        assert_eq!(both.open(&packet, 1_031), Err(Refused::Stale(31)));
        let mut tampered = packet.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(old.open(&tampered, 1_000), Err(Refused::Unsealed));
        assert_eq!(old.open(b"short", 1_000), Err(Refused::Unsealed));
    }

    #[test]
    fn tokens_of_every_secret_are_accepted_and_the_first_is_sent() {
        let both = ring(&["k2", "k1"]);
        assert_eq!(both.token(), ring(&["k2"]).token());
        assert!(both.accepts(&ring(&["k1"]).token()));
        assert!(!both.accepts(&ring(&["k3"]).token()));
        assert!(!both.accepts("not hex"));
        // No secret at all is the keyring of the empty one (loopback).
        assert_eq!(ring(&[]).token(), ring(&[""]).token());
    }

    #[test]
    fn nonces_differ_per_node_start_and_packet() {
        let mut a = Nonces::new("node1", 1);
        let mut b = Nonces::new("node1", 2);
        let (a1, a2, b1) = (a.fresh(), a.fresh(), b.fresh());
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
    }
}
