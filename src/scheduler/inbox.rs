//! The bank inbox: return files (payment returns of every layout, and
//! card-making returns) dropped into a directory are applied once complete,
//! then moved to `archive/` (applied, or identical bytes already applied) or
//! `rejected/` with a `<file>.error.txt` saying why. A database failure
//! leaves the file where it is, for the next sweep.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tracing::{info, warn};

use super::defs::InboxOptions;
use crate::jobs::cards::{exchange, CardError};
use crate::jobs::reconcile;
use crate::store::Store;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Sweep {
    pub applied: Vec<String>,
    pub already_applied: Vec<String>,
    pub rejected: Vec<String>,
    /// Files seen but not yet complete (still being written, or no marker yet).
    pub waiting: Vec<String>,
}

/// One pass over the inbox.
#[tracing::instrument(skip_all, fields(inbox = %o.dir.display()))]
pub async fn sweep(store: &Store, o: &InboxOptions) -> Result<Sweep, String> {
    let mut out = Sweep::default();
    let entries = std::fs::read_dir(&o.dir).map_err(|e| format!("{}: {e}", o.dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| is_candidate(p, o.marker.as_deref()))
        .collect();
    files.sort();
    for path in files {
        let name = file_name(&path);
        if !complete(&path, o) {
            out.waiting.push(name);
            continue;
        }
        match apply(store, &path).await? {
            Applied::Yes => {
                move_to(&path, &o.archive, o.marker.as_deref())?;
                out.applied.push(name);
            }
            Applied::Already => {
                move_to(&path, &o.archive, o.marker.as_deref())?;
                out.already_applied.push(name);
            }
            Applied::Refused(reason) => {
                warn!(file = %name, reason = %reason, "return file rejected");
                let moved = move_to(&path, &o.rejected, o.marker.as_deref())?;
                let note = moved.with_file_name(format!("{}.error.txt", file_name(&moved)));
                std::fs::write(&note, format!("{reason}\n")).map_err(|e| format!("{}: {e}", note.display()))?;
                out.rejected.push(name);
            }
        }
    }
    Ok(out)
}

enum Applied {
    Yes,
    Already,
    Refused(String),
}

/// Applies one file through the same code as `reconcile` or `cards import`.
async fn apply(store: &Store, path: &Path) -> Result<Applied, String> {
    if is_card_return(path) {
        return match exchange::import_return(store, path, "inbox").await {
            Ok(s) if s.already_applied => Ok(Applied::Already),
            Ok(_) => Ok(Applied::Yes),
            Err(CardError::Store(e)) => Err(format!("{}: {e}", path.display())),
            Err(e) => Ok(Applied::Refused(e.to_string())),
        };
    }
    let s = reconcile::reconcile_file(store, path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(match (s.error, s.already_applied) {
        (Some(e), _) => Applied::Refused(e),
        (None, true) => Applied::Already,
        (None, false) => {
            info!(file = %path.display(), lines = s.lines, "return file applied");
            Applied::Yes
        }
    })
}

/// A card-making return: named after its request, or a header of five `|` fields.
fn is_card_return(path: &Path) -> bool {
    if file_name(path).contains("_CARDREQ_") {
        return true;
    }
    let mut head = [0u8; 128];
    let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
    let first = head[..n].split(|&b| b == b'\n').next().unwrap_or(&[]);
    first.starts_with(b"H|") && first.iter().filter(|&&b| b == b'|').count() == 4
}

/// Hidden and temporary files, markers and error notes are not returns.
fn is_candidate(path: &Path, marker: Option<&str>) -> bool {
    let name = file_name(path);
    !(name.starts_with('.')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".error.txt")
        || name.ends_with(".sha256")
        || marker.is_some_and(|m| name.ends_with(m)))
}

/// Complete: its marker exists (when one is configured), and its size and
/// modification time have not changed for `settle_seconds`.
fn complete(path: &Path, o: &InboxOptions) -> bool {
    if let Some(m) = &o.marker {
        let mut marker = path.as_os_str().to_os_string();
        marker.push(m);
        if !Path::new(&marker).exists() {
            return false;
        }
    }
    let Ok(meta) = std::fs::metadata(path) else { return false };
    let age = meta.modified().ok().and_then(|t| SystemTime::now().duration_since(t).ok()).unwrap_or_default();
    age >= Duration::from_secs(o.settle_seconds)
}

/// Moves a file (and its marker) into `dir`; a name already there gets a numbered suffix.
fn move_to(path: &Path, dir: &Path, marker: Option<&str>) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = file_name(path);
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(path, &target).map_err(|e| format!("moving {} to {}: {e}", path.display(), target.display()))?;
    if let Some(m) = marker {
        let mut from = path.as_os_str().to_os_string();
        from.push(m);
        let mut to = target.as_os_str().to_os_string();
        to.push(m);
        let _ = std::fs::rename(from, to);
    }
    Ok(target)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
