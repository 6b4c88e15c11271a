//! `onecard demo`: the month end to end on the embedded database in a fresh
//! directory: generate a city, import it, create, approve and export the run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::formats::csv_input::EncodingChoice;
use crate::jobs::import::{self, registry::RegistryImporter, roster::RosterImporter};
use crate::jobs::run::{self as jobs_run, create, export};
use crate::store::Store;

pub async fn run(
    config: &Config,
    persons: u64,
    dir: Option<PathBuf>,
    seed: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
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
    let mut summaries = vec![
        import::import_file(
            &store,
            &city.join("cardholders.csv"),
            EncodingChoice::Auto,
            RegistryImporter::new(config, "demo"),
        )
        .await?,
    ];
    let mut rosters: Vec<PathBuf> =
        generated.files.iter().filter(|f| f.name.starts_with("roster_")).map(|f| city.join(&f.name)).collect();
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
    say(json, &format!("4. creating the {period} run (maker: demo-maker)"));
    let run_id = create::create_run(
        &store,
        config,
        &create::CreateOptions { period, by: "demo-maker".into(), value_date: None },
    )
    .await?;
    say(json, "5. approving it (checker: demo-checker)");
    jobs_run::approve(&store, &run_id, "demo-checker").await?;
    let outbox = dir.join("outbox");
    say(json, &format!("6. exporting the bank files to {}", outbox.display()));
    let exported = export::export_run(&store, config, &run_id, &outbox).await?;
    let summary = jobs_run::summary(&store, config, &run_id).await?;
    let (persons_in_db, active_cards) = crate::store::persons::count(store.pool()).await?;
    if !json {
        println!("\nThe city: {persons_in_db} persons in the registry, {active_cards} active cards.\n");
        print!("{}", summary.render());
        println!("\nBank files in {}:", outbox.display());
        for f in &exported.files {
            println!("  {:<34} {:>7} payments {:>14}  sha256 {}…", f.file, f.count, f.amount, &f.sha256[..12]);
        }
        println!("  {}\n", exported.manifest);
    }
    let closing = close_the_loop(&store, config, &dir, &exported, period, json).await?;
    let example = first_roster_person(&rosters);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "loop": closing,
                "dir": dir.display().to_string(),
                "db": db_url,
                "generated": generated,
                "imports": summaries,
                "persons": persons_in_db,
                "active_cards": active_cards,
                "run": summary,
                "export": exported,
            }))?
        );
    } else {
        println!("Database: {db_url}");
        if let Some(id) = &example {
            println!("Ask about a person:  cargo run --release -- --db {db_url} status {id}");
        }
        print!("{}", super::web::demo_desk(&store, &db_url, example.as_deref()).await?);
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The bank answers, the returns are reconciled, the batches closed, the
/// failures retried and paid as arrears in the next month's run.
async fn close_the_loop(
    store: &Store,
    config: &Config,
    dir: &std::path::Path,
    exported: &export::ExportReport,
    period: crate::domain::Period,
    json: bool,
) -> anyhow::Result<serde_json::Value> {
    let returns = dir.join("returns");
    say(json, &format!("7. the banks answer (3% failed, 1% not mentioned, 1% repeated) into {}", returns.display()));
    let opts = crate::sim::SimOptions {
        seed: 7,
        fail_rate: 0.03,
        omit_rate: 0.01,
        duplicate_rate: 0.01,
        ..Default::default()
    };
    let mut files = Vec::new();
    for f in &exported.files {
        for s in crate::sim::simulate(&std::path::Path::new(&exported.outbox).join(&f.file), &opts, &returns)? {
            files.push(std::path::PathBuf::from(s.file));
        }
    }
    say(json, "8. reconciling the returns");
    let mut reconciled = Vec::new();
    for f in &files {
        let s = crate::jobs::reconcile::reconcile_file(store, f).await?;
        if !json {
            let found: Vec<String> =
                s.anomalies.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "   {}: paid {} ({}), failed {} ({}) {}",
                f.display(),
                s.paid.count,
                s.paid.amount,
                s.failed.count,
                s.failed.amount,
                found.join(", ")
            );
        }
        reconciled.push(s);
    }
    let value_date = chrono::Local::now().date_naive() + chrono::Days::new(1);
    let closed = crate::jobs::batch::close_due(
        store,
        value_date + chrono::Days::new(u64::from(config.deadlines.batch_close_days)),
        config.deadlines.batch_close_days,
    )
    .await?;
    let unconfirmed: i64 = closed.iter().map(|c| c.unconfirmed.count).sum();
    say(json, &format!("9. batches closed: {unconfirmed} payments the banks never mentioned are unconfirmed (a caseworker confirms them; never re-paid automatically)"));
    let failed = crate::store::items::failed(store.pool()).await?;
    for (person, program, month) in &failed {
        let (Ok(p), Some(g), Ok(m)) = (
            crate::domain::PersonId::parse(person),
            crate::domain::Program::parse(program),
            crate::domain::Period::parse("month", month),
        ) else {
            continue;
        };
        crate::jobs::casework::order_retry(store, &p, g, m, "demo-caseworker").await?;
    }
    let next = period.next();
    say(json, &format!("10. a caseworker orders {} failed items retried", failed.len()));
    let cards = card_round(store, config, dir, json).await?;
    let realtime = realtime_channel(store, config, dir, json).await?;
    say(
        json,
        &format!("14. the {next} run pays the retried items and the held months of the new cardholders as arrears"),
    );
    let run_id = create::create_run(
        store,
        config,
        &create::CreateOptions { period: next, by: "demo-maker".into(), value_date: None },
    )
    .await?;
    let arrears: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id JOIN items i ON i.id = pi.item_id \
         WHERE p.run_id = $1 AND i.benefit_month < $2",
    )
    .bind(&run_id)
    .bind(next.to_string())
    .fetch_one(store.pool())
    .await?;
    let next_summary = jobs_run::summary(store, config, &run_id).await?;
    if !json {
        println!(
            "   {run_id}: {} payments ({}), of which {arrears} items are arrears of {period}",
            next_summary.payments.count, next_summary.payments.amount
        );
    }
    Ok(serde_json::json!({
        "reconciled": reconciled,
        "closed": closed,
        "retried": failed.len(),
        "cards": cards,
        "realtime": realtime,
        "next_run": next_summary,
        "arrears_items": arrears,
    }))
}

/// The real-time channel (iso8583.md): each bank's simulator on a loopback
/// port with a fresh key (written to a key file in the demo directory, never
/// into the repository); the new cards' accounts are verified before their
/// first payment, and one urgent relief payment goes out at once.
async fn realtime_channel(
    store: &Store,
    config: &Config,
    dir: &std::path::Path,
    json: bool,
) -> anyhow::Result<serde_json::Value> {
    use crate::iso8583::{server, SharedKey};
    let mut config = config.clone();
    let mut keys = String::from("# the demo's ISO 8583 keys, one per bank; made afresh by each demo\n");
    let mut servers = Vec::new();
    for (code, bank) in config.banks.iter_mut() {
        let Some(channel) = bank.iso8583.as_mut() else { continue };
        let key: [u8; 32] = rand::random();
        keys.push_str(&format!("{code} = {}\n", hex::encode(key)));
        let sim = server::BankSim::new(SharedKey::from_bytes(key), server::accounts_from_store(store, code).await?);
        let (addr, handle) = server::spawn("127.0.0.1:0", sim).await?;
        channel.host = addr.ip().to_string();
        channel.port = addr.port();
        servers.push(handle);
    }
    let key_file = dir.join("iso-keys.txt");
    std::fs::write(&key_file, keys)?;
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    // The channel reads keys from the environment or this file; set before any request is made.
    std::env::set_var("ONECARD_ISO_KEY_FILE", &key_file);
    let opts = crate::jobs::verify::VerifyAllOptions { banks: Vec::new(), window: 64 };
    let verified = crate::jobs::verify::verify_all(store, &config, &opts).await?;
    say(
        json,
        &format!(
            "12. the new accounts are verified over ISO 8583 before their first payment: {} checked, {} verified, {} invalid ({:.0} messages/s)",
            verified.checked, verified.verified, verified.invalid, verified.messages_per_second
        ),
    );
    let person: Option<String> = sqlx::query_scalar(
        "SELECT person_id FROM cards WHERE state = 'active' AND verification = 'verified' AND batch_no IS NOT NULL \
         ORDER BY id LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    let mut relief = serde_json::Value::Null;
    if let Some(p) = person {
        let req = crate::jobs::relief::ReliefRequest {
            person_id: crate::domain::PersonId::parse(&p)?,
            amount: crate::domain::Money::parse("2000.00")?,
            reason: "house fire: urgent relief".into(),
            by: "demo-caseworker".into(),
            month: crate::domain::Period::of(chrono::Local::now().date_naive()),
        };
        let report = crate::jobs::relief::pay(store, &config, &req).await?;
        say(
            json,
            &format!(
                "13. urgent relief of 2000.00 to {} after a fire, over 0200: {}",
                report.person_id,
                report.outcome.render()
            ),
        );
        relief = serde_json::to_value(&report)?;
    }
    for s in servers {
        s.abort();
    }
    Ok(serde_json::json!({ "verification": verified, "relief": relief }))
}

/// The card counter: the city's applications filed, sent to the issuing
/// banks, made (a few refused) and handed over.
async fn card_round(
    store: &Store,
    config: &Config,
    dir: &std::path::Path,
    json: bool,
) -> anyhow::Result<serde_json::Value> {
    use crate::jobs::cards::{self, applications::ApplicationsImporter, exchange};
    let file = dir.join("city").join(crate::gen::APPLICATIONS_FILE);
    let filed =
        import::import_file(store, &file, EncodingChoice::Auto, ApplicationsImporter::new(config, "demo-clerk"))
            .await?;
    let outbox = dir.join("cards-outbox");
    let export = exchange::export(store, config, &outbox, "demo-clerk").await?;
    say(
        json,
        &format!(
            "11. the card counter files {} applications ({} refused, see {}), sends {} card-making files to the banks",
            filed.accepted,
            filed.rejected,
            filed.rejects_file.as_deref().unwrap_or("-"),
            export.batches.len()
        ),
    );
    let opts = crate::sim::SimOptions { seed: 11, fail_rate: 0.02, ..Default::default() };
    let (mut made, mut refused, mut handed) = (0, 0, 0);
    for b in &export.batches {
        for answer in crate::sim::simulate(&outbox.join(&b.file), &opts, &dir.join("cards-returns"))? {
            let applied = exchange::import_return(store, std::path::Path::new(&answer.file), "bank").await?;
            made += applied.made;
            refused += applied.refused;
        }
        handed += cards::activate_batch(store, &b.batch_no, "demo-counter").await?.len();
    }
    say(
        json,
        &format!("    the banks make {made} cards and refuse {refused}; {handed} cards are handed over and active"),
    );
    Ok(
        serde_json::json!({ "applications": filed, "export": export, "made": made, "refused": refused, "activated": handed }),
    )
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
