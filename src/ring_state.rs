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
    #[error("the ring state files {path}.a and .b are both damaged (no record with a valid checksum): refusing to start without the promises they hold")]
    Damaged { path: String },
    #[error("the ring state file {path} is corrupt: {source}")]
    Corrupt { path: String, source: serde_json::Error },
}

/// Encodes one record (pure).
pub fn encode(counter: u64, state: &PersistentState) -> Vec<u8> {
    let payload = serde_json::to_vec(state).expect("the ring state serialises");
    let mut record = Vec::with_capacity(HEADER + payload.len() + DIGEST);
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&counter.to_le_bytes());
    record.extend_from_slice(&u32::try_from(payload.len()).expect("a ring state is small").to_le_bytes());
    record.extend_from_slice(&payload);
    let digest = Sha256::digest(&record);
    record.extend_from_slice(&digest);
    record
}

/// Decodes a slot's bytes (pure): the counter and state of a complete, intact record, or None
/// for anything else (torn, empty, garbage, another format).
pub fn decode(bytes: &[u8]) -> Option<(u64, PersistentState)> {
    if bytes.len() < HEADER + DIGEST || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let counter = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    let length = usize::try_from(u32::from_le_bytes(bytes[16..20].try_into().ok()?)).ok()?;
    let end = HEADER.checked_add(length)?;
    if length > RECORD_MAX || bytes.len() < end + DIGEST {
        return None;
    }
    if Sha256::digest(&bytes[..end]).as_slice() != &bytes[end..end + DIGEST] {
        return None;
    }
    let state = serde_json::from_slice(&bytes[HEADER..end]).ok()?;
    Some((counter, state))
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
        let decoded = [raw[0].as_deref().and_then(decode), raw[1].as_deref().and_then(decode)];
        // A slot that exists was created whole (temporary file + rename) and is then only ever
        // overwritten while the other slot holds the newer record: at most one can be torn.
        let Some((slot, counter, state)) = newest(decoded) else {
            return Err(StateError::Damaged { path: base.display().to_string() });
        };
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
        let record = encode(counter, state);
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
        let record = encode(7, &state(3));
        assert_eq!(decode(&record), Some((7, state(3))));
        // Trailing bytes of an older, longer record are ignored.
        let mut longer = record.clone();
        longer.extend_from_slice(&[0xAB; 100]);
        assert_eq!(decode(&longer), Some((7, state(3))));
        for cut in [0, 5, HEADER, record.len() / 2, record.len() - 1] {
            assert_eq!(decode(&record[..cut]), None, "cut at {cut}");
        }
        for flip in [0, 9, 17, HEADER + 2, record.len() - 1] {
            let mut bad = record.clone();
            bad[flip] ^= 0x40;
            assert_eq!(decode(&bad), None, "bit flipped at {flip}");
        }
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
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.a")).unwrap()), Some((5, state(5))));
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.b")).unwrap()), Some((4, state(4))));
        // A store opened again continues the counter and writes over the older slot (b).
        let (mut store, _) = StateFile::open(&base, &legacy).unwrap();
        store.write(&state(6)).unwrap();
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.b")).unwrap()), Some((6, state(6))));
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.a")).unwrap()), Some((5, state(5))));
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
        let fifth = encode(5, &state(5));
        let file = File::options().write(true).open(&slot_a).unwrap();
        file.write_all_at(&fifth[..fifth.len() / 2], 0).unwrap();
        let (mut store, loaded) = StateFile::open(&base, &legacy).unwrap();
        assert_eq!(loaded, Some(state(4)), "the slot written last before the crash wins");
        // The next write goes over the torn slot, never over the good one.
        store.write(&state(5)).unwrap();
        assert_eq!(StateFile::open(&base, &legacy).unwrap().1, Some(state(5)));
        assert_eq!(decode(&std::fs::read(dir.path().join("ring-A.b")).unwrap()), Some((4, state(4))));
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
        // A damaged former file is refused as before.
        let dir = tempfile::tempdir().unwrap();
        let (base, legacy) = paths(dir.path());
        std::fs::write(&legacy, b"{not json").unwrap();
        assert!(matches!(StateFile::open(&base, &legacy).err(), Some(StateError::Corrupt { .. })));
    }
}
