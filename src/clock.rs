//! Wall-clock time for timestamps people read and for retention, and random identifiers.
//! (Protocol timing uses the monotonic clock, never this one.)

/// Milliseconds since the Unix epoch, for timestamps shown to people and for retention.
pub fn wall_clock_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A random identifier with a readable prefix, e.g. `tr_3f9a...` (96 random bits).
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 12] = rand::random();
    format!("{prefix}_{}", hex::encode(bytes))
}
