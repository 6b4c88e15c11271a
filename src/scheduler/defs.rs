//! Job definitions: one TOML file per job in `jobs/`, read and checked whole
//! at start-up. An invalid file is refused with a message naming the file
//! and the field.
//!
//! ```toml
//! name = "create-run"                 # default: the file name without .toml
//! description = "the month's draft run"
//! schedule = "0 0 2 5 * *"            # the cron crate: sec min hour day-of-month month day-of-week [year]
//! timezone = "Asia/Shanghai"          # default
//! kind = "run_create"
//! catch_up = "once"                   # a fire missed while no scheduler ran: "once" (default) or "skip"
//! [params]
//! by = "scheduler"
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use serde::Deserialize;

/// The city's time zone, unless a job names another.
pub const DEFAULT_TZ: Tz = chrono_tz::Asia::Shanghai;

#[derive(Debug, thiserror::Error)]
pub enum DefError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{dir}: {message}")]
    Dir { dir: String, message: String },
}

/// What a job does, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// `run create` for the month of the fire time.
    RunCreate { by: String },
    /// `run export` of every approved run.
    RunExport { outbox: PathBuf },
    /// Applies return files (payments and cards) dropped into the inbox.
    Inbox(InboxOptions),
    /// `cards export`: waiting applications to the issuing banks.
    CardsExport { outbox: PathBuf, by: String },
    /// `batch close --due`: batches past their deadline.
    BatchClose,
    /// `missed --as-of` the fire date.
    Missed,
    /// Any other command, run as `onecard <args>` with the scheduler's database and configuration.
    Command { args: Vec<String> },
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::RunCreate { .. } => "run_create",
            JobKind::RunExport { .. } => "run_export",
            JobKind::Inbox(_) => "inbox",
            JobKind::CardsExport { .. } => "cards_export",
            JobKind::BatchClose => "batch_close",
            JobKind::Missed => "missed",
            JobKind::Command { .. } => "command",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboxOptions {
    pub dir: PathBuf,
    pub archive: PathBuf,
    pub rejected: PathBuf,
    /// A file is complete once its size and modification time have not changed for this long.
    pub settle_seconds: u64,
    /// When set (e.g. `.done`), a file is complete only once `<file><marker>` exists.
    pub marker: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    Once,
    Skip,
}

/// A checked job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    pub schedule: cron::Schedule,
    pub schedule_text: String,
    pub tz: Tz,
    pub catch_up: CatchUp,
    pub kind: JobKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Option<String>,
    #[serde(default)]
    description: String,
    schedule: String,
    timezone: Option<String>,
    kind: String,
    catch_up: Option<CatchUp>,
    #[serde(default)]
    params: toml::Table,
}

/// Reads every `*.toml` in `dir`, sorted by name; refuses the first bad one.
pub fn load_dir(dir: &Path) -> Result<Vec<Job>, DefError> {
    let dir_err = |message: String| DefError::Dir { dir: dir.display().to_string(), message };
    let entries = std::fs::read_dir(dir).map_err(|e| dir_err(format!("cannot read the job folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut jobs: Vec<Job> = Vec::with_capacity(files.len());
    for f in &files {
        let job = load_file(f)?;
        if let Some(other) = jobs.iter().find(|j| j.name == job.name) {
            return Err(DefError::File {
                path: f.display().to_string(),
                message: format!("name: '{}' is also the name of {}", job.name, other.file.display()),
            });
        }
        jobs.push(job);
    }
    Ok(jobs)
}

pub fn load_file(path: &Path) -> Result<Job, DefError> {
    let err = |message: String| DefError::File { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    parse(&text, path).map_err(err)
}

/// Parses one job file's text; the error names the field.
pub fn parse(text: &str, path: &Path) -> Result<Job, String> {
    let raw: RawJob = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = raw.name.unwrap_or(stem);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("name: '{name}' must be letters, digits, '-' or '_'"));
    }
    let schedule = cron::Schedule::from_str(&raw.schedule)
        .map_err(|e| format!("schedule: '{}' is not a cron schedule ({e})", raw.schedule))?;
    let tz = match raw.timezone.as_deref() {
        None => DEFAULT_TZ,
        Some(t) => t.parse::<Tz>().map_err(|_| format!("timezone: '{t}' is not an IANA time zone"))?,
    };
    let mut p = Params { table: raw.params, kind: raw.kind.clone() };
    let kind = match raw.kind.as_str() {
        "run_create" => JobKind::RunCreate { by: p.text("by", Some("scheduler"))? },
        "run_export" => JobKind::RunExport { outbox: p.path("outbox", None)? },
        "inbox" => {
            let dir = p.path("dir", None)?;
            let archive = p.path("archive", Some(dir.join("archive")))?;
            let rejected = p.path("rejected", Some(dir.join("rejected")))?;
            let settle_seconds = p.number("settle_seconds", 10)?;
            let marker = p.optional_text("marker")?;
            JobKind::Inbox(InboxOptions { dir, archive, rejected, settle_seconds, marker })
        }
        "cards_export" => {
            JobKind::CardsExport { outbox: p.path("outbox", None)?, by: p.text("by", Some("scheduler"))? }
        }
        "batch_close" => JobKind::BatchClose,
        "missed" => JobKind::Missed,
        "command" => JobKind::Command { args: p.list("args")? },
        other => {
            return Err(format!(
            "kind: '{other}' is not one of run_create, run_export, inbox, cards_export, batch_close, missed, command"
        ))
        }
    };
    p.finish()?;
    Ok(Job {
        name,
        description: raw.description,
        file: path.to_path_buf(),
        schedule,
        schedule_text: raw.schedule,
        tz,
        catch_up: raw.catch_up.unwrap_or(CatchUp::Once),
        kind,
    })
}

/// A job's `[params]`, taken field by field; what is left over is an error.
struct Params {
    table: toml::Table,
    kind: String,
}

impl Params {
    fn take(&mut self, key: &str) -> Option<toml::Value> {
        self.table.remove(key)
    }

    fn text(&mut self, key: &str, default: Option<&str>) -> Result<String, String> {
        match (self.take(key), default) {
            (Some(toml::Value::String(s)), _) if !s.is_empty() => Ok(s),
            (Some(_), _) => Err(format!("params.{key}: must be a non-empty string")),
            (None, Some(d)) => Ok(d.to_string()),
            (None, None) => Err(format!("params.{key}: a {} job needs it", self.kind)),
        }
    }

    fn optional_text(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(Some(s)),
            Some(_) => Err(format!("params.{key}: must be a non-empty string")),
        }
    }

    fn path(&mut self, key: &str, default: Option<PathBuf>) -> Result<PathBuf, String> {
        match (self.take(key), default) {
            (Some(toml::Value::String(s)), _) if !s.is_empty() => Ok(PathBuf::from(s)),
            (Some(_), _) => Err(format!("params.{key}: must be a path")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("params.{key}: a {} job needs it", self.kind)),
        }
    }

    fn number(&mut self, key: &str, default: u64) -> Result<u64, String> {
        match self.take(key) {
            None => Ok(default),
            Some(toml::Value::Integer(n)) if n >= 0 => Ok(n as u64),
            Some(_) => Err(format!("params.{key}: must be a whole number of seconds")),
        }
    }

    fn list(&mut self, key: &str) -> Result<Vec<String>, String> {
        match self.take(key) {
            Some(toml::Value::Array(items)) if !items.is_empty() => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    _ => Err(format!("params.{key}: every argument must be a string")),
                })
                .collect(),
            _ => Err(format!("params.{key}: a {} job needs a non-empty list of arguments", self.kind)),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self.table.keys().next() {
            Some(k) => Err(format!("params.{k}: not a parameter of a {} job", self.kind)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str) -> Result<Job, String> {
        parse(text, Path::new("jobs/x.toml"))
    }

    #[test]
    fn a_job_file_is_read_with_its_defaults() {
        let j = job("schedule = \"0 0 2 5 * *\"\nkind = \"run_create\"\n").unwrap();
        assert_eq!(j.name, "x");
        assert_eq!(j.tz, DEFAULT_TZ);
        assert_eq!(j.catch_up, CatchUp::Once);
        assert_eq!(j.kind, JobKind::RunCreate { by: "scheduler".into() });
        let inbox = job("schedule = \"0 */5 * * * *\"\nkind = \"inbox\"\n[params]\ndir = \"in\"\nmarker = \".done\"\n");
        let JobKind::Inbox(o) = inbox.unwrap().kind else { panic!() };
        assert_eq!(
            (o.archive, o.settle_seconds, o.marker.as_deref()),
            (PathBuf::from("in/archive"), 10, Some(".done"))
        );
    }

    #[test]
    fn bad_job_files_name_the_field() {
        let cases = [
            ("schedule = \"every day\"\nkind = \"missed\"\n", "schedule: 'every day' is not a cron schedule"),
            ("schedule = \"0 0 2 5 * *\"\nkind = \"nap\"\n", "kind: 'nap' is not one of"),
            ("schedule = \"0 0 2 5 * *\"\nkind = \"run_export\"\n", "params.outbox: a run_export job needs it"),
            ("schedule = \"0 0 2 5 * *\"\nkind = \"missed\"\n[params]\nby = \"x\"\n", "params.by: not a parameter"),
            ("schedule = \"0 0 2 5 * *\"\nkind = \"missed\"\ntimezone = \"Mars/Base\"\n", "timezone: 'Mars/Base'"),
            ("schedule = \"0 0 2 5 * *\"\nkind = \"missed\"\ncolour = 1\n", "unknown field `colour`"),
            ("kind = \"missed\"\n", "missing field `schedule`"),
            ("schedule = \"0 0 2 5 * *\"\nkind = \"command\"\n[params]\nargs = []\n", "params.args"),
        ];
        for (text, want) in cases {
            let err = job(text).unwrap_err();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }
}
