//! Return files are written under temporary names and linked into place only
//! when all of them are complete, so a reader never sees half an answer and an
//! existing file is never overwritten. Anything not committed is removed.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use super::SimError;

/// Output buffer per file: large enough that a million lines are few writes.
const BUFFER: usize = 1 << 20;

struct Entry {
    tmp: PathBuf,
    path: PathBuf,
}

/// A set of files being written into one directory.
pub(super) struct Staged {
    entries: Vec<Entry>,
    /// Final paths already linked by a commit that then failed: removed again.
    linked: Vec<PathBuf>,
}

impl Staged {
    /// Refuses if any final name exists, then creates every temporary file.
    pub fn create(dir: &Path, names: &[String]) -> Result<(Staged, Vec<BufWriter<File>>), SimError> {
        std::fs::create_dir_all(dir).map_err(|source| SimError::Write { path: dir.to_path_buf(), source })?;
        let mut staged = Staged { entries: Vec::with_capacity(names.len()), linked: Vec::new() };
        for name in names {
            let path = dir.join(name);
            if path.symlink_metadata().is_ok() {
                return Err(SimError::Exists { path });
            }
            staged.entries.push(Entry { tmp: dir.join(format!(".{name}.{}.tmp", std::process::id())), path });
        }
        let mut files = Vec::with_capacity(names.len());
        for (i, entry) in staged.entries.iter().enumerate() {
            let file = OpenOptions::new().write(true).create_new(true).open(&entry.tmp);
            match file {
                Ok(f) => files.push(BufWriter::with_capacity(BUFFER, f)),
                Err(source) => {
                    let path = entry.tmp.clone();
                    // Only the temporaries created so far are ours to remove.
                    staged.entries.truncate(i);
                    return Err(SimError::Write { path, source });
                }
            }
        }
        Ok((staged, files))
    }

    /// The final path of file `i`.
    pub fn path(&self, i: usize) -> &Path {
        &self.entries[i].path
    }

    /// Flushes a finished file to disk.
    pub fn close(&self, i: usize, out: BufWriter<File>) -> Result<(), SimError> {
        let tmp = &self.entries[i].tmp;
        let write_err = |source| SimError::Write { path: tmp.clone(), source };
        let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
        file.sync_all().map_err(write_err)
    }

    /// Links every file into place (a create that fails if the name exists).
    /// If one cannot be placed, those already placed are removed again.
    pub fn commit(mut self) -> Result<(), SimError> {
        for i in 0..self.entries.len() {
            let Entry { tmp, path } = &self.entries[i];
            match std::fs::hard_link(tmp, path) {
                Ok(()) => self.linked.push(path.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(SimError::Exists { path: path.clone() }),
                Err(source) => return Err(SimError::Write { path: path.clone(), source }),
            }
        }
        self.linked.clear();
        if let Some(dir) = self.entries.first().and_then(|e| e.path.parent()) {
            // Make the new directory entries durable; a failure here loses nothing written.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for path in &self.linked {
            let _ = std::fs::remove_file(path);
        }
        for entry in &self.entries {
            let _ = std::fs::remove_file(&entry.tmp);
        }
    }
}

/// Maps a write error to the file it is for.
pub(super) fn write_err(path: &Path) -> impl Fn(std::io::Error) -> SimError + '_ {
    move |source| SimError::Write { path: path.to_path_buf(), source }
}
