//! `onecard demo`: generate a city, import it, and show what the month holds,
//! on the embedded database in a fresh directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::jobs::import::{self, registry::RegistryImporter, roster::RosterImporter};
use crate::formats::csv_input::EncodingChoice;
use crate::store::Store;

pub async fn run(config: &Config, persons: u64, dir: Option<PathBuf>, seed: u64, json: bool) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => PathBuf::from(format!("onecard-demo-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"))),
    };
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty; the demo runs in a fresh directory", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let period = super::parse_period(None)?;
    let city = dir.join("city");
    let db_url = format!("sqlite://{}", dir.join("onecard.db").display());
    say(json, &format!("1. generating a city of {persons} persons for {period} into {}", city.display()));
    let generated = super::gen_city(persons, period, seed, &city)?;

    let store = Store::connect(&db_url).await?;
    say(json, &format!("2. importing into {db_url}"));
    let mut summaries =
        vec![import::import_file(&store, &city.join("cardholders.csv"), EncodingChoice::Auto, RegistryImporter::new(config, "demo")).await?];
    let mut rosters: Vec<PathBuf> = generated
        .files
        .iter()
        .filter(|f| f.name.starts_with("roster_"))
        .map(|f| city.join(&f.name))
        .collect();
    rosters.sort();
    for r in &rosters {
        summaries.push(import::import_file(&store, r, EncodingChoice::Auto, RosterImporter::default()).await?);
    }
    if !json {
        super::print_imports(&summaries, false)?;
    }
    say(json, "3. importing the same files again changes nothing:");
    let again = import::import_file(&store, &rosters[0], EncodingChoice::Auto, RosterImporter::default()).await?;
    if !json {
        super::print_imports(std::slice::from_ref(&again), false)?;
    }
    let (persons_in_db, active_cards) = crate::store::persons::count(store.pool()).await?;
    let example = summaries
        .iter()
        .find(|s| s.kind == "roster")
        .map(|_| ())
        .and_then(|_| first_roster_person(&rosters));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dir": dir.display().to_string(),
                "db": db_url,
                "generated": generated,
                "imports": summaries,
                "persons": persons_in_db,
                "active_cards": active_cards,
            }))?
        );
    } else {
        println!("\nThe city: {persons_in_db} persons in the registry, {active_cards} active cards.");
        println!("Database: {db_url}");
        if let Some(id) = example {
            println!("Ask about a person:  cargo run --release -- --db {db_url} status {id}");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn say(json: bool, line: &str) {
    if !json {
        println!("{line}");
    }
}

/// The person id on the first data row of the first roster, for the hint.
fn first_roster_person(rosters: &[PathBuf]) -> Option<String> {
    let path = rosters.iter().find(|p| std::fs::read(p).map(|b| std::str::from_utf8(&b).is_ok()).unwrap_or(false))?;
    let mut reader = csv::Reader::from_path(path).ok()?;
    let headers = reader.headers().ok()?.clone();
    let col = headers.iter().position(|h| h.trim_start_matches('\u{feff}') == "person_id" || h == "身份证号")?;
    let record = reader.records().next()?.ok()?;
    record.get(col).map(str::to_string)
}
