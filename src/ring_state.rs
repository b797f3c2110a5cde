//! The ring's durable state (ringbank_ring::PersistentState) on disk: two slot files written in
//! turn, in place, each record checksummed, one `fdatasync` per write.
//!
//! Every token a bank accepts and every claim it confirms is persisted before it answers, so
//! this write is on the ring's critical path and on an idle ring's CPU bill. The former scheme
//! (temporary file, fsync, rename, fsync of the folder) cost a file creation, two fsyncs and a
//! rename in the file system's journal per write. Here a write overwrites the OLDER slot and
//! syncs its data; the newer slot is never touched, so a write torn by a crash leaves the
//! previous state intact in the other slot, and a start reads the valid record with the highest
//! counter. A slot file is created only once (through a temporary file and a rename, then an
//! fsync of the folder), so it exists only with a complete record.
//!
//! Record: `RBRING1\n` | counter (u64 LE) | length (u32 LE) | JSON of the state | SHA-256 of all
//! before it. Bytes after the record (a longer record written earlier) are ignored.
//!
//! Limit: one damaged slot is taken for a torn write and the other slot is used (with a warning).
//! Damage to the newest record AFTER it was written whole (bit rot) looks the same and would roll
//! the state back by one write; the former single-file scheme refused to start in that case. Both
//! slots damaged, or a whole record this version cannot read, still refuse to start.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ringbank_ring::PersistentState;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"RBRING1\n";
const HEADER: usize = MAGIC.len() + 8 + 4;
const DIGEST: usize = 32;
/// A state record is a few hundred bytes (a certificate of 100 banks stays far below this).
const RECORD_MAX: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the ring state file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write the ring state file {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the ring state files {path}.a and .b are both damaged (no record with a valid checksum): refusing to start without the promises they hold")]
    Damaged { path: String },
    #[error("the ring state file {path} holds a complete record this version cannot read ({reason}): refusing to start rather than fall back to an older state")]
    Unreadable { path: String, reason: String },
    #[error("the ring state file {path} is corrupt: {source}")]
    Corrupt { path: String, source: serde_json::Error },
}

/// Encodes one record (pure); None if the state is larger than a record may be.
pub fn encode(counter: u64, state: &PersistentState) -> Option<Vec<u8>> {
    let payload = serde_json::to_vec(state).expect("the ring state serialises");
    if payload.len() > RECORD_MAX {
        return None;
    }
    let mut record = Vec::with_capacity(HEADER + payload.len() + DIGEST);
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&counter.to_le_bytes());
    record.extend_from_slice(&u32::try_from(payload.len()).expect("a ring state is small").to_le_bytes());
    record.extend_from_slice(&payload);
    let digest = Sha256::digest(&record);
    record.extend_from_slice(&digest);
    Some(record)
}

/// What a slot holds.
#[derive(Debug, PartialEq)]
pub enum Slot {
    /// A complete record.
    Record(u64, PersistentState),
    /// No complete record: empty, cut short, or a checksum that does not match (a write torn by
    /// a crash, or damage).
    Torn,
    /// A complete record (its checksum matches) whose state cannot be read: written by another
    /// version, or a state too large. Never taken for a torn write: a start refuses it.
    Unreadable(String),
}

/// Decodes a slot's bytes (pure).
pub fn decode(bytes: &[u8]) -> Slot {
    if bytes.len() < HEADER + DIGEST || &bytes[..MAGIC.len()] != MAGIC {
        return Slot::Torn;
    }
    let counter = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let length = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
    let end = HEADER + length;
    if bytes.len() < end + DIGEST || Sha256::digest(&bytes[..end]).as_slice() != &bytes[end..end + DIGEST] {
        return Slot::Torn;
    }
    if length > RECORD_MAX {
        return Slot::Unreadable(format!("a record of {length} bytes (at most {RECORD_MAX})"));
    }
    match serde_json::from_slice(&bytes[HEADER..end]) {
        Ok(state) => Slot::Record(counter, state),
        Err(error) => Slot::Unreadable(error.to_string()),
    }
}

fn record(slot: Slot) -> Option<(u64, PersistentState)> {
    match slot {
        Slot::Record(counter, state) => Some((counter, state)),
        _ => None,
    }
}

/// Picks what a start must use from the two slots' decoded records (pure): the one with the
/// higher counter.
fn newest(slots: [Option<(u64, PersistentState)>; 2]) -> Option<(usize, u64, PersistentState)> {
    let [a, b] = slots;
    match (a, b) {
        (Some((ca, sa)), Some((cb, _))) if ca >= cb => Some((0, ca, sa)),
        (_, Some((cb, sb))) => Some((1, cb, sb)),
        (Some((ca, sa)), None) => Some((0, ca, sa)),
        (None, None) => None,
    }
}

/// The two slot files of one bank's ring state.
pub struct StateFile {
    paths: [PathBuf; 2],
    files: [Option<File>; 2],
    /// The slot the next write goes to (never the one holding the newest record).
    next: usize,
    counter: u64,
    /// The single-file format of earlier versions, removed once a slot holds its successor.
    legacy: Option<PathBuf>,
}

impl StateFile {
    /// Opens the state at `base` (`base.a`, `base.b`; `legacy` is the earlier versions' JSON
    /// file, read only if neither slot exists). Returns the newest durable state, if any.
    pub fn open(base: &Path, legacy: &Path) -> Result<(StateFile, Option<PersistentState>), StateError> {
        let name = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let paths = [base.with_file_name(format!("{name}.a")), base.with_file_name(format!("{name}.b"))];
        let mut raw: [Option<Vec<u8>>; 2] = [None, None];
        for (slot, path) in paths.iter().enumerate() {
            raw[slot] = match std::fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(StateError::Read { path: path.display().to_string(), source }),
            };
        }
        let mut store = StateFile { paths, files: [None, None], next: 0, counter: 0, legacy: None };
        if raw.iter().all(Option::is_none) {
            // No slot yet: a new bank, or one whose state is still in the former single file.
            let state = match std::fs::read(legacy) {
                Ok(bytes) => {
                    store.legacy = Some(legacy.to_path_buf());
                    Some(
                        serde_json::from_slice(&bytes)
                            .map_err(|source| StateError::Corrupt { path: legacy.display().to_string(), source })?,
                    )
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(StateError::Read { path: legacy.display().to_string(), source }),
            };
            return Ok((store, state));
        }
        let decoded = [raw[0].as_deref().map_or(Slot::Torn, decode), raw[1].as_deref().map_or(Slot::Torn, decode)];
        for (index, slot) in decoded.iter().enumerate() {
            if let Slot::Unreadable(reason) = slot {
                return Err(StateError::Unreadable { path: store.paths[index].display().to_string(), reason: reason.clone() });
            }
        }
        let [first, second] = decoded;
        let torn: Vec<String> = [&first, &second]
            .iter()
            .zip(&store.paths)
            .filter(|(slot, _)| matches!(slot, Slot::Torn))
            .map(|(_, path)| path.display().to_string())
            .collect();
        // A slot that exists was created whole (temporary file + rename) and is then only ever
        // overwritten while the other slot holds the newer record: at most one can be torn.
        let Some((slot, counter, state)) = newest([record(first), record(second)]) else {
            return Err(StateError::Damaged { path: base.display().to_string() });
        };
        if raw.iter().all(Option::is_some) && !torn.is_empty() {
            // Expected after a crash in the middle of a write (that write was never acted on).
            // Damage to a record written whole would look the same: say which one was used.
            tracing::warn!(torn = ?torn, counter, "a ring state slot holds no complete record (a write cut short by a crash?); starting from the other one");
        }
        if std::fs::metadata(legacy).is_ok() {
            // Left by a crash between the first slot write and its removal: older than the slots.
            let _ = std::fs::remove_file(legacy);
        }
        store.next = 1 - slot;
        store.counter = counter;
        for (index, path) in store.paths.iter().enumerate() {
            if raw[index].is_some() {
                let file = File::options()
                    .write(true)
                    .open(path)
                    .map_err(|source| StateError::Read { path: path.display().to_string(), source })?;
                store.files[index] = Some(file);
            }
        }
        Ok((store, Some(state)))
    }

    /// Writes `state` durably into the older slot. After an error the store must not be used
    /// again (the caller stops its ring driver).
    pub fn write(&mut self, state: &PersistentState) -> std::io::Result<()> {
        let counter = self.counter + 1;
        let record = encode(counter, state).ok_or_else(|| std::io::Error::other("the ring state is larger than a record may be"))?;
        let slot = self.next;
        match &self.files[slot] {
            Some(file) => {
                file.write_all_at(&record, 0)?;
                file.sync_data()?;
            }
            None => {
                let path = &self.paths[slot];
                let temporary = path.with_extension("tmp");
                let mut file = File::create(&temporary)?;
                file.write_all(&record)?;
                file.sync_all()?;
                std::fs::rename(&temporary, path)?;
                if let Some(dir) = path.parent() {
                    File::open(dir)?.sync_all()?;
                }
                self.files[slot] = Some(File::options().write(true).open(path)?);
            }
        }
        self.counter = counter;
        self.next = 1 - slot;
        if let Some(legacy) = self.legacy.take() {
            // Its content is older than the slot just written; a failure to remove it is harmless.
            let _ = std::fs::remove_file(legacy);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbank_ring::Stamp;

    fn state(epoch: u64) -> PersistentState {
        PersistentState { promised_epoch: epoch, highest_accepted: Stamp::new(epoch, epoch * 10), ..PersistentState::default() }
    }

    fn paths(dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join("ring-A"), dir.join("ring-A.json"))
    }

    #[test]
    fn a_record_round_trips_and_any_damage_is_refused() {
        let record = encode(7, &state(3)).unwrap();
        assert_eq!(decode(&record), Slot::Record(7, state(3)));
        // Trailing bytes of an older, longer record are ignored.
        let mut longer = record.clone();
        longer.extend_from_slice(&[0xAB; 100]);
        assert_eq!(decode(&longer), Slot::Record(7, state(3)));
        for cut in [0, 5, HEADER, record.len() / 2, record.len() - 1] {
            assert_eq!(decode(&record[..cut]), Slot::Torn, "cut at {cut}");
        }
        for flip in [0, 9, 17, HEADER + 2, record.len() - 1] {
            let mut bad = record.clone();
            bad[flip] ^= 0x40;
            assert_eq!(decode(&bad), Slot::Torn, "bit flipped at {flip}");
        }
    }

    /// A record whose checksum holds but whose state cannot be read (another version's) is not
    /// a torn write: falling back to the older slot would forget what the newer one promised.
    #[test]
    fn a_complete_record_that_cannot_be_read_refuses_to_start() {
        let mut record = Vec::new();
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&9u64.to_le_bytes());
        let payload = br#"{"promised_epoch":"not a number"}"#;
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(payload);
        let digest = Sha256::digest(&record);
        record.extend_from_slice(&digest);
        assert!(matches!(decode(&record), Slot::Unreadable(_)));
        let dir = tempfile::tempdir().unwrap();
        let (base, legacy) = paths(dir.path());
        let (mut store, _) = StateFile::open(&base, &legacy).unwrap();
        store.write(&state(8)).unwrap();
        store.write(&state(8)).unwrap();
        std::fs::write(dir.path().join("ring-A.a"), &record).unwrap();
        let error = StateFile::open(&base, &legacy).err().expect("refused");
        assert!(matches!(error, StateError::Unreadable { .. }), "{error}");
    }

    #[test]
    fn writes_alternate_and_a_restart_finds_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let (base, legacy) = paths(dir.path());
        let (mut store, loaded) = StateFile::open(&base, &legacy).unwrap();
        assert_eq!(loaded, None);
        for epoch in 1..=5 {
            store.write(&state(epoch)).unwrap();
            let (_, loaded) = StateFile::open(&base, &legacy).unwrap();
            assert_eq!(loaded, Some(state(epoch)));
        }
        // 5 writes: slot a holds 1, 3, 5 in turn, slot b 2, 4.
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.a")).unwrap()), Slot::Record(5, state(5)));
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.b")).unwrap()), Slot::Record(4, state(4)));
        // A store opened again continues the counter and writes over the older slot (b).
        let (mut store, _) = StateFile::open(&base, &legacy).unwrap();
        store.write(&state(6)).unwrap();
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.b")).unwrap()), Slot::Record(6, state(6)));
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.a")).unwrap()), Slot::Record(5, state(5)));
    }

    #[test]
    fn a_torn_write_leaves_the_previous_state_and_two_damaged_slots_refuse_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let (base, legacy) = paths(dir.path());
        let (mut store, _) = StateFile::open(&base, &legacy).unwrap();
        for epoch in 1..=4 {
            store.write(&state(epoch)).unwrap();
        }
        // A crash in the middle of the fifth write (to slot a): half of its record landed.
        let slot_a = dir.path().join("ring-A.a");
        let fifth = encode(5, &state(5)).unwrap();
        let file = File::options().write(true).open(&slot_a).unwrap();
        file.write_all_at(&fifth[..fifth.len() / 2], 0).unwrap();
        let (mut store, loaded) = StateFile::open(&base, &legacy).unwrap();
        assert_eq!(loaded, Some(state(4)), "the slot written last before the crash wins");
        // The next write goes over the torn slot, never over the good one.
        store.write(&state(5)).unwrap();
        assert_eq!(StateFile::open(&base, &legacy).unwrap().1, Some(state(5)));
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.b")).unwrap()), Slot::Record(4, state(4)));
        // Both damaged: no silent fresh start (that would forget promises).
        for slot in ["ring-A.a", "ring-A.b"] {
            std::fs::write(dir.path().join(slot), b"garbage").unwrap();
        }
        let error = StateFile::open(&base, &legacy).err().expect("refused");
        assert!(matches!(error, StateError::Damaged { .. }), "{error}");
    }

    #[test]
    fn the_former_single_file_is_read_once_and_removed_after_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let (base, legacy) = paths(dir.path());
        std::fs::write(&legacy, serde_json::to_vec(&state(9)).unwrap()).unwrap();
        let (mut store, loaded) = StateFile::open(&base, &legacy).unwrap();
        assert_eq!(loaded, Some(state(9)));
        store.write(&state(10)).unwrap();
        assert!(!legacy.exists());
        assert_eq!(StateFile::open(&base, &legacy).unwrap().1, Some(state(10)));
        // A former file left beside the slots (a crash before its removal) is older: removed.
        std::fs::write(&legacy, serde_json::to_vec(&state(9)).unwrap()).unwrap();
        assert_eq!(StateFile::open(&base, &legacy).unwrap().1, Some(state(10)));
        assert!(!legacy.exists());
        // A damaged former file is refused as before.
        let dir = tempfile::tempdir().unwrap();
        let (base, legacy) = paths(dir.path());
        std::fs::write(&legacy, b"{not json").unwrap();
        assert!(matches!(StateFile::open(&base, &legacy).err(), Some(StateError::Corrupt { .. })));
    }
}
