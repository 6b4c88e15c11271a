//! Deployment configuration: programs (names, owners, caps, exclusions,
//! prerequisites), elderly tiers, the unemployment month limit, deadlines and
//! banks. The spec's defaults are built in; `--config FILE` overrides any part
//! (see README "Configuration"). Banks come from `bank_formats/*.toml`,
//! embedded at build time, or from `bank_formats_dir` at run time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::{BankCode, Money, Program};

include!(concat!(env!("OUT_DIR"), "/embedded_banks.rs"));

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The file layouts of bank-files.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum Layout {
    #[serde(rename = "TXT-A")]
    TxtA,
    #[serde(rename = "FIX-B")]
    FixB,
    #[serde(rename = "ISO20022")]
    Iso20022,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::TxtA => "TXT-A",
            Layout::FixB => "FIX-B",
            Layout::Iso20022 => "ISO20022",
        }
    }
}

/// One bank the city works with (one file of `bank_formats/`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BankConfig {
    pub bank_code: String,
    pub name: String,
    pub layout: Layout,
    pub payer_account: String,
    pub payer_name: String,
    pub agency_code: String,
    /// The bank's real-time ISO 8583 channel (iso8583.md), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso8583: Option<IsoChannel>,
}

/// Where and how to reach a bank's ISO 8583 server. The shared key is not
/// here: it comes from `ONECARD_ISO_KEY_<BANK>` or `ONECARD_ISO_KEY_FILE`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IsoChannel {
    pub host: String,
    pub port: u16,
    /// Field 41: the card centre's terminal id at this bank (8 characters).
    pub terminal_id: String,
    /// A request not answered within this is unknown (default 10 s).
    #[serde(default = "IsoChannel::default_timeout_ms")]
    pub timeout_ms: u64,
    /// An echo (0800) on an open connection this often (default 30 s).
    #[serde(default = "IsoChannel::default_echo_interval_ms")]
    pub echo_interval_ms: u64,
    /// Reversals of an unanswered credit sent by one command before it gives up for now (default 8).
    #[serde(default = "IsoChannel::default_reversal_attempts")]
    pub reversal_attempts: u32,
    /// Wait before the second reversal, doubled each time up to `reversal_backoff_max_ms` (default 1 s, 30 s).
    #[serde(default = "IsoChannel::default_reversal_backoff_ms")]
    pub reversal_backoff_ms: u64,
    #[serde(default = "IsoChannel::default_reversal_backoff_max_ms")]
    pub reversal_backoff_max_ms: u64,
}

impl IsoChannel {
    fn default_timeout_ms() -> u64 {
        10_000
    }
    fn default_echo_interval_ms() -> u64 {
        30_000
    }
    fn default_reversal_attempts() -> u32 {
        8
    }
    fn default_reversal_backoff_ms() -> u64 {
        1_000
    }
    fn default_reversal_backoff_max_ms() -> u64 {
        30_000
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProgramConfig {
    pub name: String,
    pub owner: String,
    pub cap: Money,
}

/// An elderly allowance tier: age on the last day of the benefit month in
/// `min_age..=max_age` (no upper bound when `max_age` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ElderlyTier {
    pub min_age: i32,
    pub max_age: Option<i32>,
    pub amount: Money,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Deadlines {
    /// Days after the end of a payout period before an unpaid due key is `missed_payment`.
    pub missed_payment_days: u32,
    /// Days after a batch's value date before it is closed automatically.
    pub batch_close_days: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    pub programs: BTreeMap<Program, ProgramConfig>,
    /// Pairs of programs that may not both be paid for one benefit month.
    pub exclusive: Vec<(Program, Program)>,
    /// `(program, required)`: `program` is payable only with a payable `required` item that month.
    pub prerequisites: Vec<(Program, Program)>,
    pub elderly_tiers: Vec<ElderlyTier>,
    pub unemployment_month_limit: u32,
    pub deadlines: Deadlines,
    pub banks: BTreeMap<String, BankConfig>,
}

impl Default for Config {
    fn default() -> Config {
        let programs = Program::ALL
            .into_iter()
            .map(|p| {
                (
                    p,
                    ProgramConfig {
                        name: p.default_name().into(),
                        owner: p.default_owner().into(),
                        cap: p.default_cap(),
                    },
                )
            })
            .collect();
        Config {
            programs,
            exclusive: vec![(Program::Dibao, Program::Wubao)],
            prerequisites: vec![(Program::DisabilityLiving, Program::Dibao)],
            elderly_tiers: vec![
                ElderlyTier { min_age: 80, max_age: Some(89), amount: Money::yuan(100) },
                ElderlyTier { min_age: 90, max_age: Some(99), amount: Money::yuan(200) },
                ElderlyTier { min_age: 100, max_age: None, amount: Money::yuan(500) },
            ],
            unemployment_month_limit: 24,
            deadlines: Deadlines { missed_payment_days: 45, batch_close_days: 10 },
            banks: BTreeMap::new(),
        }
    }
}

/// The override file: every section optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    programs: BTreeMap<String, ProgramOverride>,
    exclusive: Option<Vec<[String; 2]>>,
    prerequisites: Option<Vec<[String; 2]>>,
    elderly_tiers: Option<Vec<TierFile>>,
    unemployment_month_limit: Option<u32>,
    deadlines: Option<DeadlinesFile>,
    bank_formats_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgramOverride {
    name: Option<String>,
    owner: Option<String>,
    cap: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierFile {
    min_age: i32,
    max_age: Option<i32>,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadlinesFile {
    missed_payment_days: Option<u32>,
    batch_close_days: Option<u32>,
}

impl Config {
    /// The built-in defaults with the banks embedded from `bank_formats/`.
    pub fn builtin() -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for (name, text) in EMBEDDED_BANKS {
            config.add_bank(&format!("bank_formats/{name}"), text)?;
        }
        Ok(config)
    }

    /// Defaults overridden by `path` when given.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else { return Config::builtin() };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let shown = path.display().to_string();
        let invalid = |message: String| ConfigError::Invalid { path: shown.clone(), message };
        let file: ConfigFile = toml::from_str(&text).map_err(|e| invalid(e.message().to_string()))?;
        let mut config = match &file.bank_formats_dir {
            None => Config::builtin()?,
            Some(dir) => {
                let dir =
                    if dir.is_relative() { path.parent().unwrap_or(Path::new(".")).join(dir) } else { dir.clone() };
                Config::with_bank_dir(&dir)?
            }
        };
        let program = |code: &str| Program::parse(code).ok_or_else(|| invalid(format!("unknown program '{code}'")));
        let money = |field: &str, s: &str| Money::parse(s).map_err(|e| invalid(format!("{field}: {e}")));
        for (code, o) in &file.programs {
            let p = program(code)?;
            let entry = config.programs.get_mut(&p).ok_or_else(|| invalid(format!("unknown program '{code}'")))?;
            if let Some(n) = &o.name {
                entry.name = n.clone();
            }
            if let Some(n) = &o.owner {
                entry.owner = n.clone();
            }
            if let Some(c) = &o.cap {
                entry.cap = money(&format!("programs.{code}.cap"), c)?;
            }
        }
        let pairs = |v: &Vec<[String; 2]>| -> Result<Vec<(Program, Program)>, ConfigError> {
            v.iter().map(|[a, b]| Ok((program(a)?, program(b)?))).collect()
        };
        if let Some(v) = &file.exclusive {
            config.exclusive = pairs(v)?;
        }
        if let Some(v) = &file.prerequisites {
            config.prerequisites = pairs(v)?;
        }
        if let Some(tiers) = &file.elderly_tiers {
            config.elderly_tiers = tiers
                .iter()
                .map(|t| {
                    Ok(ElderlyTier {
                        min_age: t.min_age,
                        max_age: t.max_age,
                        amount: money("elderly_tiers.amount", &t.amount)?,
                    })
                })
                .collect::<Result<_, ConfigError>>()?;
            config.check_tiers().map_err(invalid)?;
        }
        if let Some(n) = file.unemployment_month_limit {
            config.unemployment_month_limit = n;
        }
        if let Some(d) = &file.deadlines {
            config.deadlines.missed_payment_days =
                d.missed_payment_days.unwrap_or(config.deadlines.missed_payment_days);
            config.deadlines.batch_close_days = d.batch_close_days.unwrap_or(config.deadlines.batch_close_days);
        }
        Ok(config)
    }

    fn with_bank_dir(dir: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Read { path: dir.into(), source })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
            config.add_bank(&p.display().to_string(), &text)?;
        }
        Ok(config)
    }

    fn add_bank(&mut self, path: &str, text: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.to_string(), message };
        let bank: BankConfig = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        BankCode::parse(&bank.bank_code).map_err(|e| invalid(e.to_string()))?;
        if let Some(iso) = &bank.iso8583 {
            if iso.terminal_id.len() != 8 || !iso.terminal_id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                return Err(invalid(format!(
                    "iso8583.terminal_id '{}' must be 8 printable ASCII characters",
                    iso.terminal_id
                )));
            }
            if bank.agency_code.is_empty()
                || bank.agency_code.len() > 11
                || !bank.agency_code.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(invalid(format!(
                    "agency_code '{}' must be 1 to 11 digits for iso8583 (field 32)",
                    bank.agency_code
                )));
            }
        }
        if self.banks.contains_key(&bank.bank_code) {
            return Err(invalid(format!("bank_code {} is configured twice", bank.bank_code)));
        }
        self.banks.insert(bank.bank_code.clone(), bank);
        Ok(())
    }

    fn check_tiers(&self) -> Result<(), String> {
        let mut tiers = self.elderly_tiers.clone();
        tiers.sort_by_key(|t| t.min_age);
        for w in tiers.windows(2) {
            match w[0].max_age {
                Some(max) if max < w[1].min_age => {}
                _ => return Err(format!("elderly tiers starting at {} and {} overlap", w[0].min_age, w[1].min_age)),
            }
        }
        Ok(())
    }

    /// The elderly allowance for an age, if any tier covers it.
    pub fn elderly_amount(&self, age: i32) -> Option<Money> {
        self.elderly_tiers.iter().find(|t| age >= t.min_age && t.max_age.is_none_or(|m| age <= m)).map(|t| t.amount)
    }

    pub fn program(&self, p: Program) -> &ProgramConfig {
        // Every program is present: the map is built from Program::ALL and only ever updated.
        &self.programs[&p]
    }

    pub fn bank(&self, code: &str) -> Option<&BankConfig> {
        self.banks.get(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_spec_defaults_and_five_banks() {
        let c = Config::builtin().unwrap();
        assert_eq!(c.program(Program::Dibao).cap, Money::yuan(5000));
        assert_eq!(c.program(Program::TempRelief).cap, Money::yuan(20000));
        assert_eq!(c.program(Program::Elderly).name, "高龄津贴");
        assert_eq!(c.elderly_amount(79), None);
        assert_eq!(c.elderly_amount(80), Some(Money::yuan(100)));
        assert_eq!(c.elderly_amount(99), Some(Money::yuan(200)));
        assert_eq!(c.elderly_amount(104), Some(Money::yuan(500)));
        assert_eq!(c.unemployment_month_limit, 24);
        assert_eq!(c.deadlines.missed_payment_days, 45);
        assert_eq!(c.banks.len(), 5);
        assert_eq!(c.bank("104").unwrap().layout, Layout::Iso20022);
    }

    #[test]
    fn override_file_changes_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("onecard.toml");
        std::fs::write(
            &path,
            r#"
unemployment_month_limit = 12
[programs.dibao]
cap = "1200.00"
[[elderly_tiers]]
min_age = 85
amount = "300.00"
[deadlines]
missed_payment_days = 30
"#,
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.program(Program::Dibao).cap, Money::yuan(1200));
        assert_eq!(c.program(Program::Wubao).cap, Money::yuan(5000));
        assert_eq!(c.elderly_amount(84), None);
        assert_eq!(c.elderly_amount(120), Some(Money::yuan(300)));
        assert_eq!(c.unemployment_month_limit, 12);
        assert_eq!(c.deadlines.missed_payment_days, 30);
        assert_eq!(c.deadlines.batch_close_days, 10);
    }

    #[test]
    fn bad_override_names_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[programs.dibao]\ncap = \"1,200\"\n").unwrap();
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("programs.dibao.cap") && e.contains("thousands"), "{e}");
        std::fs::write(&path, "[programs.lottery]\ncap = \"1\"\n").unwrap();
        assert!(Config::load(Some(&path)).unwrap_err().to_string().contains("unknown program 'lottery'"));
    }

    #[test]
    fn a_bank_directory_replaces_the_embedded_banks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("banks")).unwrap();
        std::fs::write(
            dir.path().join("banks/314.toml"),
            "bank_code = \"314\"\nname = \"江门农村商业银行\"\nlayout = \"FIX-B\"\npayer_account = \"80020000001234567\"\npayer_name = \"江门市社会保障卡管理中心\"\nagency_code = \"44070001\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("c.toml"), "bank_formats_dir = \"banks\"\n").unwrap();
        let c = Config::load(Some(&dir.path().join("c.toml"))).unwrap();
        assert_eq!(c.banks.keys().collect::<Vec<_>>(), ["314"]);
        assert_eq!(c.bank("314").unwrap().layout, Layout::FixB);
    }
}
