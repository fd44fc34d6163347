//! What a connection listens to (`LISTEN channel`), and which
//! notification of the change feed it was sent last. The session records
//! `LISTEN` / `UNLISTEN` here; the connection's task asks
//! [`Listening::due`] whenever the feed's newest resolved change moves
//! and whenever the connection turns idle, and sends what is due between
//! statements (docs/changes.md).

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The channel the change feed notifies on.
pub const CHANGES_CHANNEL: &str = "stemedb_changes";

#[derive(Debug, Default)]
pub struct Listening {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    channels: BTreeSet<String>,
    /// The newest change this connection was told of (or that was newest
    /// when it started listening).
    told: Option<String>,
}

impl Listening {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `LISTEN channel`; `newest` is the feed's newest resolved change now
    /// (a listener hears of changes after it, not before).
    pub fn listen(&self, channel: &str, newest: Option<String>) {
        let mut state = self.lock();
        if channel == CHANGES_CHANNEL && !state.channels.contains(channel) {
            state.told = newest;
        }
        state.channels.insert(channel.to_string());
    }

    /// `UNLISTEN channel`, or `UNLISTEN *` when `None`.
    pub fn unlisten(&self, channel: Option<&str>) {
        let mut state = self.lock();
        match channel {
            Some(c) => {
                state.channels.remove(c);
            }
            None => state.channels.clear(),
        }
    }

    /// Whether the connection listens to anything.
    pub fn any(&self) -> bool {
        !self.lock().channels.is_empty()
    }

    /// The payload to send on [`CHANGES_CHANNEL`] now that `newest` is the
    /// feed's newest resolved change, if the connection listens and has
    /// not been told of it.
    pub fn due(&self, newest: Option<&String>) -> Option<String> {
        let mut state = self.lock();
        let newest = newest?;
        if !state.channels.contains(CHANGES_CHANNEL) || state.told.as_ref() >= Some(newest) {
            return None;
        }
        state.told = Some(newest.clone());
        Some(newest.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_hears_each_newer_change_once() {
        let l = Listening::default();
        let id = |s: &str| Some(s.to_string());
        assert_eq!(l.due(id("a").as_ref()), None, "not listening yet");
        l.listen(CHANGES_CHANNEL, id("b"));
        assert_eq!(l.due(id("b").as_ref()), None, "known when it listened");
        assert_eq!(l.due(id("c").as_ref()), id("c"));
        assert_eq!(l.due(id("c").as_ref()), None);
        l.listen("other", None);
        l.unlisten(Some(CHANGES_CHANNEL));
        assert_eq!(l.due(id("d").as_ref()), None);
        assert!(l.any());
        l.unlisten(None);
        assert!(!l.any());
    }
}
