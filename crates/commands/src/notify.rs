//! Keyspace notifications: a listener of the change feed (DESIGN.md D3) that turns each key
//! event whose class `notify-keyspace-events` enables into Redis's two publishes,
//! `__keyspace@<db>__:<key>` (message: the event) and `__keyevent@<db>__:<event>`
//! (message: the key). With notifications off a change costs one atomic load.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use keyspace::{class, Change, ChangeListener};

use crate::pubsub::PubSub;

/// `K`: publish on `__keyspace@<db>__:<key>`. The event classes use the low 16 bits
/// (`keyspace::class`).
pub const KEYSPACE: u32 = 1 << 16;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 17;

/// `A`: Redis's NOTIFY_ALL, every class but key-miss and new.
const ALL: u32 = (class::GENERIC
    | class::STRING
    | class::LIST
    | class::SET
    | class::HASH
    | class::ZSET
    | class::EXPIRED
    | class::EVICTED
    | class::STREAM
    | class::MODULE) as u32;

const LETTERS: [(u8, u32); 14] = [
    (b'g', class::GENERIC as u32),
    (b'$', class::STRING as u32),
    (b'l', class::LIST as u32),
    (b's', class::SET as u32),
    (b'h', class::HASH as u32),
    (b'z', class::ZSET as u32),
    (b'x', class::EXPIRED as u32),
    (b'e', class::EVICTED as u32),
    (b't', class::STREAM as u32),
    (b'd', class::MODULE as u32),
    (b'n', class::NEW as u32),
    (b'K', KEYSPACE),
    (b'E', KEYEVENT),
    (b'm', class::KEY_MISS as u32),
];

/// Redis's `keyspaceEventsStringToFlags`; None on an unknown character.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= if c == b'A' {
            ALL
        } else {
            LETTERS.iter().find(|(l, _)| *l == c)?.1
        };
    }
    Some(flags)
}

/// Redis's `keyspaceEventsFlagsToString`, except that `n` is kept after `A` (Redis drops it
/// from the text while still honouring it; the text is all Cinnabar stores).
pub fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
        if flags & class::NEW as u32 != 0 {
            s.push('n');
        }
    } else {
        for (l, f) in &LETTERS[..11] {
            if flags & f != 0 {
                s.push(*l as char);
            }
        }
    }
    for (l, f) in &LETTERS[11..] {
        if flags & f != 0 {
            s.push(*l as char);
        }
    }
    s
}

/// Config normaliser of `notify-keyspace-events`.
pub fn normalize_flags(value: &str, _current: &str) -> Result<String, String> {
    parse_flags(value)
        .map(flags_to_string)
        .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())
}

/// The change-feed listener that publishes keyspace notifications.
pub struct Notifier {
    pubsub: Arc<PubSub>,
}

impl Notifier {
    pub fn new(pubsub: Arc<PubSub>) -> Self {
        Notifier { pubsub }
    }
}

impl ChangeListener for Notifier {
    #[inline]
    fn on_change(&self, change: &Change<'_>) {
        let flags = self.pubsub.hot.notify.load(Ordering::Relaxed);
        if flags == 0 {
            return;
        }
        if let Change::Key { db, key, event } = *change {
            if u32::from(event.class) & flags != 0 {
                publish(&self.pubsub, flags, db, key, event.name);
            }
        }
    }
}

fn publish(pubsub: &PubSub, flags: u32, db: usize, key: &[u8], event: &str) {
    let mut chan = Vec::with_capacity(16 + key.len().max(event.len()));
    if flags & KEYSPACE != 0 {
        chan.extend_from_slice(format!("__keyspace@{db}__:").as_bytes());
        chan.extend_from_slice(key);
        pubsub.publish(&chan, event.as_bytes());
    }
    if flags & KEYEVENT != 0 {
        chan.clear();
        chan.extend_from_slice(format!("__keyevent@{db}__:{event}").as_bytes());
        pubsub.publish(&chan, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis() {
        let n = |s: &str| normalize_flags(s, "").ok();
        assert_eq!(n("KEA").as_deref(), Some("AKE"));
        assert_eq!(n("KA").as_deref(), Some("AK"));
        assert_eq!(n("$lshzxeKE").as_deref(), Some("$lshzxeKE"));
        assert_eq!(n("Eg$lshzxetd").as_deref(), Some("AE"));
        assert_eq!(n("Kmn").as_deref(), Some("nKm"));
        assert_eq!(n("").as_deref(), Some(""));
        assert!(n("KEq").is_none());
    }
}
