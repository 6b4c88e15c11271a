//! `onecard gen`: a synthetic but realistic city, deterministic by seed —
//! Jiangmen's registry of cardholders, one roster per program for a period,
//! and `planted.csv` listing every anomaly deliberately planted in them.
//!
//! Files: `cardholders.csv` (UTF-8 with BOM); `roster_<program>_<YYYY-MM>.csv`
//! for every program but `elderly` (veteran and disability_care in GBK with
//! CRLF, disability_care and unemployment with the Chinese header aliases);
//! `planted.csv` (`code,person_id,program,benefit_month,file,line,note`, line
//! counted with the header as line 1). Planted codes are the run-time anomaly
//! codes one month's rosters can produce, plus `rejected_row` for rows the
//! importer must reject (the note gives the reason); computed `elderly` items
//! that will be held are listed too, with the registry row as their line.
//!
//! The city is streamed: each person's registry row and roster lines are
//! written as the person is made, so memory does not grow with the city
//! (a fixed table of id sequence counters, a few MB, and the appendix lines).

mod city;
mod names;
mod output;
mod people;
mod plant;
mod programs;
mod regions;
mod sample;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::domain::{AnomalyCode, Period};

pub use output::APPLICATIONS_FILE;
pub use regions::region_name;

/// The BIN (first six digits) the synthetic city's accounts of a bank start with.
pub fn bank_bin(bank_code: &str) -> Option<&'static str> {
    people::BANKS.iter().find(|(b, _)| b.code == bank_code).map(|(b, _)| b.bin)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub persons: u64,
    pub period: Period,
    pub seed: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct GeneratedFile {
    pub name: String,
    /// Data rows, without the header.
    pub rows: u64,
    /// `"utf-8"` or `"gbk"`.
    pub encoding: &'static str,
}

#[derive(Debug, serde::Serialize)]
pub struct GenSummary {
    pub persons: u64,
    pub files: Vec<GeneratedFile>,
    /// Rows of `planted.csv` per code (every code listed, zero included).
    pub planted: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("cannot create output directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{file} line {line}: character '{ch}' cannot be encoded in GBK")]
    Unencodable { file: String, line: u64, ch: char },
    #[error("at most {max} persons can be generated (card numbers have 8 digits), {persons} asked")]
    TooManyPersons { persons: u64, max: u64 },
    #[error("person {index}: no person id left for the drawn birth date and birthplace")]
    IdSpaceExhausted { index: u64 },
}

/// Card numbers and account serials are permutations of 8 digits.
pub const MAX_PERSONS: u64 = 100_000_000;

/// Writes the city for `opts` into `out_dir` (created if missing). The same
/// options always give byte-identical files. `progress` is called now and
/// then with the number of persons written so far, and once at the end.
pub fn generate(opts: &GenOptions, out_dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<GenSummary, GenError> {
    if opts.persons > MAX_PERSONS {
        return Err(GenError::TooManyPersons { persons: opts.persons, max: MAX_PERSONS });
    }
    std::fs::create_dir_all(out_dir).map_err(|source| GenError::CreateDir { path: out_dir.to_path_buf(), source })?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // The counter's own generator, so that planting applications leaves the rest of the city as it was.
    let mut counter = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x0C0A_2D00);
    let mut city = city::City::new(opts.period, opts.seed);
    let mut planner = plant::Planner::new(opts.persons);
    let mut out = output::Output::create(out_dir, opts.period, &plant::planted_codes())?;
    let last_day = opts.period.last_day();
    for index in 0..opts.persons {
        let role = planner.role(&mut rng, index);
        let (person, lines) = city.person(&mut rng, index, role)?;
        let registry_line = out.registry_row(&person)?;
        // The computed elderly item (80 or older, alive at the end of the
        // month) is held like any other: without a card, or with a name the
        // bank's GBK file cannot carry.
        let alive = person.death.filter(|&d| d <= last_day).is_none();
        if alive && person.age(opts.period) >= 80 {
            let id = person.id.as_str();
            match &person.card {
                None => {
                    out.plant_elderly(AnomalyCode::NoActiveCard.as_str(), id, registry_line, "no card in the registry")?
                }
                Some(card) if card.bank.gbk_layout => {
                    if let Some(ch) = crate::formats::gbk::first_unencodable(&person.name.full()) {
                        let note = format!("unencodable in GBK: '{ch}' (bank {})", card.bank.code);
                        out.plant_elderly(AnomalyCode::NameMismatch.as_str(), id, registry_line, &note)?;
                    }
                }
                Some(_) => {}
            }
        }
        for line in lines {
            out.roster_line(line)?;
        }
        plant_application(&mut counter, &mut out, &person, alive)?;
        if index % 65_536 == 0 && index > 0 {
            progress(index);
        }
    }
    let (files, planted) = out.finish()?;
    progress(opts.persons);
    Ok(GenSummary { persons: opts.persons, files, planted })
}

/// Persons at the card counter (card-issuance.md): every living person
/// without a card applies for a first one; of the cardholders, about one in
/// a thousand reports a card lost and one in two thousand replaces a worn one.
fn plant_application<R: rand::Rng>(
    rng: &mut R,
    out: &mut output::Output,
    person: &people::Person,
    alive: bool,
) -> Result<(), GenError> {
    let draw: f64 = rng.gen();
    let pick = rng.gen::<u32>() as usize;
    if !alive {
        return Ok(());
    }
    match &person.card {
        None => {
            let bank = people::BANKS[pick % people::BANKS.len()].0.code;
            out.application(person.id.as_str(), bank, "new")
        }
        Some(card) if draw < 1e-3 => out.application(person.id.as_str(), card.bank.code, "lost"),
        Some(card) if draw < 1.5e-3 => out.application(person.id.as_str(), card.bank.code, "replace"),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
