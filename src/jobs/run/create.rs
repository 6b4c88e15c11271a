//! `run create`: gathers a period's inputs person by person (a page of
//! persons at a time, in key order), applies the payout rules, and stores
//! items, one payment per payable person with its claims, batches and
//! anomalies — in one transaction, so a killed run leaves nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use tracing::info;

use super::RunError;
use crate::config::{Config, Layout};
use crate::domain::payout::{
    self, Candidate, Decision, Existing, Origin, Outcome, Payee, PersonInputs, Registered, Settled,
};
use crate::domain::{AnomalyCode, Money, Period, Program};
use crate::formats::gbk;
use crate::store::runs::{self, NewAnomaly, NewBatch, NewItem, NewPayment, PersonsPage, StoredItem};
use crate::store::{Store, Tx};

/// Persons decided per page.
const PAGE: i64 = 1000;

pub struct CreateOptions {
    pub period: Period,
    pub by: String,
    /// The requested payment date of the batches (default: the day after today).
    pub value_date: Option<NaiveDate>,
}

/// An open batch of the run for one bank.
struct BatchState {
    batch_no: String,
    next_seq: i64,
    count: i64,
    amount_fen: i64,
}

#[tracing::instrument(skip_all, fields(period = %opts.period, by = %opts.by))]
pub async fn create_run(store: &Store, config: &Config, opts: &CreateOptions) -> Result<String, RunError> {
    let today = chrono::Local::now().date_naive();
    let value_date = opts.value_date.unwrap_or(today + chrono::Days::new(1));
    let period = opts.period;
    let mut tx = store.begin_write().await?;
    let run_id = match runs::insert_draft(&mut tx, &period.to_string(), &opts.by).await {
        Ok(id) => id,
        Err(e) if crate::store::source_files::is_unique_violation(&e) => {
            return Err(RunError::DraftExists(period.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let files = runs::take_roster_files(&mut tx, &run_id, &period.to_string()).await?;
    let youngest_tier = config.elderly_tiers.iter().map(|t| t.min_age).min().unwrap_or(i32::MAX);
    let born_by = period
        .last_day()
        .checked_sub_months(chrono::Months::new(12 * youngest_tier.max(0) as u32))
        .unwrap_or(NaiveDate::MIN);
    let persons = runs::collect_persons(
        &mut tx,
        &files,
        &born_by.to_string(),
        &period.last_day().to_string(),
        &period.to_string(),
    )
    .await?;
    info!(run_id, files = files.len(), persons, "gathering inputs");

    let progress = indicatif::ProgressBar::new(persons as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("deciding {bar:30} {human_pos}/{human_len} persons ({eta})")
            .unwrap_or(indicatif::ProgressStyle::default_bar()),
    );
    let mut batches: BTreeMap<String, BatchState> = BTreeMap::new();
    let date = today.format("%Y%m%d").to_string();
    let mut after = String::new();
    loop {
        let page = runs::next_persons(&mut tx, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.clone();
        let loaded = runs::load_page(&mut tx, &page, &files).await?;
        let mut work = PageWork::default();
        for (person_id, inputs) in assemble(&page, loaded, period, config) {
            let decisions = payout::decide(&inputs, config);
            work.add(&person_id, inputs, &decisions);
        }
        work.store(&mut tx, config, &run_id, period, &date, &value_date.to_string(), &mut batches).await?;
        progress.inc(page.len() as u64);
    }
    progress.finish_and_clear();
    runs::drop_persons(&mut tx).await?;
    check_control_totals(&mut tx, &run_id, &batches).await?;
    tx.commit().await?;
    info!(run_id, "draft run created");
    Ok(run_id)
}

/// The control totals kept while writing equal the sums of the stored payments.
async fn check_control_totals(
    tx: &mut Tx,
    run_id: &str,
    batches: &BTreeMap<String, BatchState>,
) -> Result<(), RunError> {
    let sums = crate::store::run_report::batch_sums(tx, run_id).await?;
    for b in batches.values() {
        let stored = sums.get(&b.batch_no).copied().unwrap_or((0, 0));
        if stored != (b.count, b.amount_fen) {
            return Err(RunError::ControlTotals(format!(
                "batch {}: written {} payments / {} fen, stored {} / {}",
                b.batch_no, b.count, b.amount_fen, stored.0, stored.1
            )));
        }
        runs::set_batch_totals(tx, &b.batch_no, b.count, b.amount_fen).await?;
    }
    Ok(())
}

/// Builds each person's inputs from a loaded page.
fn assemble(page: &[String], loaded: PersonsPage, period: Period, config: &Config) -> Vec<(String, PersonInputs)> {
    let registry: HashMap<String, _> = loaded.registry.into_iter().map(|r| (r.person_id.clone(), r)).collect();
    let cards: HashMap<String, _> = loaded.cards.into_iter().map(|c| (c.person_id.clone(), c)).collect();
    let mut lines: HashMap<String, Vec<_>> = HashMap::new();
    for l in loaded.lines {
        lines.entry(l.person_id.clone()).or_default().push(l);
    }
    let mut items: HashMap<String, Vec<StoredItem>> = HashMap::new();
    for i in loaded.items {
        items.entry(i.person_id.clone()).or_default().push(i);
    }
    page.iter()
        .map(|person_id| {
            let reg = registry.get(person_id);
            let card = cards.get(person_id);
            let registered = reg.map(|r| Registered {
                name: r.name.clone(),
                region_code: r.region_code.clone(),
                death_date: r.death_date.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
            });
            let payee = payee(card, reg.map(|r| r.name.as_str()), config);
            let mut candidates = Vec::new();
            let mut existing = Vec::new();
            let stored = items.remove(person_id).unwrap_or_default();
            for item in &stored {
                let (Some(program), Ok(month)) =
                    (Program::parse(&item.program), Period::parse("benefit_month", &item.benefit_month))
                else {
                    continue;
                };
                if month > period {
                    continue;
                }
                let carried = match item.state.as_str() {
                    "pending" | "held" => true,
                    "failed" => {
                        let ready = item.retry_ordered != 0
                            || card
                                .and_then(|c| c.account_no.as_deref())
                                .is_some_and(|a| Some(a) != item.last_account.as_deref());
                        if !ready {
                            existing.push(Existing {
                                item_id: item.id,
                                program,
                                benefit_month: month,
                                settled: Settled::FailedWaiting,
                            });
                        }
                        ready
                    }
                    state => {
                        let settled = match state {
                            "cancelled" => Settled::Cancelled,
                            "not_payable" => Settled::NotPayable,
                            _ => Settled::Claimed,
                        };
                        existing.push(Existing { item_id: item.id, program, benefit_month: month, settled });
                        false
                    }
                };
                if carried {
                    candidates.push(Candidate {
                        origin: Origin::Item { item_id: item.id, line_id: item.roster_line_id },
                        program,
                        benefit_month: month,
                        amount: Money::from_fen(item.amount_fen).unwrap_or_default(),
                        name: item.line_name.clone(),
                        region_code: item.line_region.clone(),
                        order: (item.line_file.unwrap_or(0), item.line_no.unwrap_or(0)),
                    });
                }
            }
            let known_lines: Vec<i64> = stored.iter().filter_map(|i| i.roster_line_id).collect();
            for l in lines.remove(person_id).unwrap_or_default() {
                // A line that already made an item (a discarded draft's) is that item, not a second input.
                if known_lines.contains(&l.id) {
                    continue;
                }
                let (Some(program), Ok(month)) =
                    (Program::parse(&l.program), Period::parse("benefit_month", &l.benefit_month))
                else {
                    continue;
                };
                candidates.push(Candidate {
                    origin: Origin::Line { line_id: l.id },
                    program,
                    benefit_month: month,
                    amount: Money::from_fen(l.amount_fen).unwrap_or_default(),
                    name: Some(l.name),
                    region_code: Some(l.region_code),
                    order: (l.source_file_id, l.line_no),
                });
            }
            // The computed elderly allowance, unless the key already has an item.
            if let Some(r) = reg {
                let has_item = stored
                    .iter()
                    .any(|i| i.program == Program::Elderly.as_str() && i.benefit_month == period.to_string());
                let birth = NaiveDate::parse_from_str(&r.birth_date, "%Y-%m-%d").ok();
                let death = r.death_date.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
                if let (false, Some(birth)) = (has_item, birth) {
                    if let Some(amount) = payout::elderly_amount(birth, death, period, config) {
                        candidates.push(Candidate {
                            origin: Origin::Computed,
                            program: Program::Elderly,
                            benefit_month: period,
                            amount,
                            name: None,
                            region_code: None,
                            order: (i64::MAX, 0),
                        });
                    }
                }
            }
            (person_id.clone(), PersonInputs { person_id: person_id.clone(), registered, payee, candidates, existing })
        })
        .collect()
}

/// The card a payment would go to, or why there is none.
fn payee(card: Option<&runs::ActiveCard>, name: Option<&str>, config: &Config) -> Payee {
    let Some(card) = card else { return Payee::None("no active card".into()) };
    let Some(account) = &card.account_no else { return Payee::None("the active card has no account".into()) };
    if card.verification == "invalid" {
        return Payee::None("the card's account failed verification".into());
    }
    let Some(bank) = config.bank(&card.bank_code) else {
        return Payee::None(format!("bank {} is not configured", card.bank_code));
    };
    let unencodable = match bank.layout {
        Layout::Iso20022 => None,
        Layout::TxtA | Layout::FixB => name.and_then(gbk::first_unencodable),
    };
    Payee::Card { card_id: card.id, bank_code: card.bank_code.clone(), account_no: account.clone(), unencodable }
}

/// A carried-over item decided again.
struct ItemUpdate {
    item_id: i64,
    state: &'static str,
    hold: Option<(&'static str, String)>,
    amount_fen: i64,
    line: Option<i64>,
}

/// The writes one page of decisions needs, gathered so they go out in bulk.
#[derive(Default)]
struct PageWork {
    /// New items: (person index into `people`, candidate, decision outcome).
    new_items: Vec<(usize, usize, Outcome, String)>,
    /// Carried items decided again.
    updates: Vec<ItemUpdate>,
    /// Payable keys per person: (person index, candidate, known item id).
    payable: Vec<(usize, usize, Option<i64>)>,
    anomalies: Vec<(usize, usize, AnomalyCode, String, Option<i64>)>,
    people: Vec<(String, PersonInputs)>,
}

impl PageWork {
    fn add(&mut self, person_id: &str, inputs: PersonInputs, decisions: &payout::Decisions) {
        let who = self.people.len();
        for d in &decisions.duplicates {
            if let Outcome::NotPaid(code) = d.outcome {
                self.anomalies.push((who, d.candidate, code, d.detail.clone(), d.item_id));
            }
        }
        for d in &decisions.keys {
            self.key(who, &inputs, d);
        }
        self.people.push((person_id.to_string(), inputs));
    }

    fn key(&mut self, who: usize, inputs: &PersonInputs, d: &Decision) {
        let c = &inputs.candidates[d.candidate];
        let line = match c.origin {
            Origin::Line { line_id } => Some(line_id),
            Origin::Item { line_id, .. } => line_id,
            Origin::Computed => None,
        };
        let (state, code): (&'static str, Option<AnomalyCode>) = match &d.outcome {
            Outcome::Pay => ("scheduled", None),
            Outcome::Hold(code) => ("held", Some(*code)),
            Outcome::NotPaid(AnomalyCode::Deceased) => ("not_payable", Some(AnomalyCode::Deceased)),
            Outcome::NotPaid(code) => {
                // already_paid: the key's item stands as it is; only the line is flagged.
                self.anomalies.push((who, d.candidate, *code, d.detail.clone(), d.item_id));
                return;
            }
            Outcome::Skip => return,
        };
        let carried = match c.origin {
            Origin::Item { item_id, .. } => Some(item_id),
            _ => None,
        };
        match (carried, d.item_id) {
            (Some(id), _) => {
                let hold = code.filter(|_| state == "held").map(|k| (k.as_str(), d.detail.clone()));
                self.updates.push(ItemUpdate { item_id: id, state, hold, amount_fen: c.amount.fen(), line });
                if let Some(k) = code {
                    self.anomalies.push((who, d.candidate, k, d.detail.clone(), Some(id)));
                }
                if state == "scheduled" {
                    self.payable.push((who, d.candidate, Some(id)));
                }
            }
            (None, Some(existing)) => {
                // A settled key (e.g. not payable) met again: flag only.
                if let Some(k) = code {
                    self.anomalies.push((who, d.candidate, k, d.detail.clone(), Some(existing)));
                }
            }
            (None, None) => {
                self.new_items.push((who, d.candidate, d.outcome.clone(), d.detail.clone()));
                if let Some(k) = code {
                    self.anomalies.push((who, d.candidate, k, d.detail.clone(), None));
                }
                if state == "scheduled" {
                    self.payable.push((who, d.candidate, None));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn store(
        self,
        tx: &mut Tx,
        config: &Config,
        run_id: &str,
        period: Period,
        date: &str,
        value_date: &str,
        batches: &mut BTreeMap<String, BatchState>,
    ) -> Result<(), RunError> {
        // 1. New items, with their decided state.
        let new: Vec<NewItem> = self
            .new_items
            .iter()
            .map(|(who, cand, outcome, detail)| {
                let (person_id, inputs) = &self.people[*who];
                let c = &inputs.candidates[*cand];
                let (state, hold_code) = match outcome {
                    Outcome::Pay => ("scheduled", None),
                    Outcome::Hold(code) => ("held", Some(code.as_str())),
                    _ => ("not_payable", None),
                };
                NewItem {
                    person_id,
                    program: c.program.as_str(),
                    benefit_month: c.benefit_month.to_string(),
                    amount_fen: c.amount.fen(),
                    origin: if c.origin == Origin::Computed { "computed" } else { "roster" },
                    roster_line_id: match c.origin {
                        Origin::Line { line_id } => Some(line_id),
                        _ => None,
                    },
                    state,
                    hold_code,
                    hold_detail: hold_code.map(|_| detail.clone()),
                }
            })
            .collect();
        let ids = runs::insert_items(tx, run_id, &new).await?;
        let mut new_id: HashMap<(usize, usize), i64> = HashMap::new();
        for ((who, cand, _, _), id) in self.new_items.iter().zip(&ids) {
            new_id.insert((*who, *cand), *id);
        }
        // 2. Carried items decided again.
        for u in &self.updates {
            let hold = u.hold.as_ref().map(|(c, d)| (*c, d.as_str()));
            runs::update_item(tx, u.item_id, u.state, hold, u.amount_fen, u.line).await?;
        }
        // 3. One payment per payable person.
        let mut by_person: BTreeMap<usize, Vec<(usize, i64)>> = BTreeMap::new();
        for (who, cand, known) in &self.payable {
            let Some(id) = known.or_else(|| new_id.get(&(*who, *cand)).copied()) else { continue };
            by_person.entry(*who).or_default().push((*cand, id));
        }
        let mut payments = Vec::with_capacity(by_person.len());
        for (who, items) in by_person {
            let (person_id, inputs) = &self.people[who];
            let Payee::Card { card_id, bank_code, account_no, .. } = &inputs.payee else { continue };
            let Some(registered) = &inputs.registered else { continue };
            let batch = match batches.get_mut(bank_code) {
                Some(b) => b,
                None => {
                    let batch_no = runs::next_batch_no(tx, date, bank_code).await?;
                    let layout = config.bank(bank_code).map(|b| b.layout.as_str()).unwrap_or("TXT-A");
                    let nb = NewBatch { batch_no: &batch_no, run_id, bank_code, layout, value_date };
                    runs::insert_batch(tx, &nb).await?;
                    batches.entry(bank_code.clone()).or_insert(BatchState {
                        batch_no,
                        next_seq: 1,
                        count: 0,
                        amount_fen: 0,
                    })
                }
            };
            let amount: i64 = items.iter().map(|(c, _)| inputs.candidates[*c].amount.fen()).sum();
            let keys: Vec<(Program, Period)> = items
                .iter()
                .map(|(c, _)| (inputs.candidates[*c].program, inputs.candidates[*c].benefit_month))
                .collect();
            let seq = batch.next_seq;
            batch.next_seq += 1;
            batch.count += 1;
            batch.amount_fen += amount;
            payments.push(NewPayment {
                serial_no: crate::domain::ids::serial_no(&batch.batch_no, seq),
                batch_no: batch.batch_no.clone(),
                seq,
                person_id: person_id.clone(),
                card_id: *card_id,
                bank_code: bank_code.clone(),
                account_no: account_no.clone(),
                account_name: registered.name.clone(),
                amount_fen: amount,
                remark: payout::remark(period, &keys, config),
                items: items.iter().map(|(c, id)| (*id, inputs.candidates[*c].amount.fen())).collect(),
            });
        }
        runs::insert_payments(tx, run_id, &payments).await?;
        // 4. Anomalies, one per item (or line) per code per run.
        let period_text = period.to_string();
        let anomalies: Vec<NewAnomaly> = self
            .anomalies
            .iter()
            .map(|(who, cand, code, detail, item)| {
                let (person_id, inputs) = &self.people[*who];
                let c = &inputs.candidates[*cand];
                let item_id = item.or_else(|| new_id.get(&(*who, *cand)).copied());
                let line = match c.origin {
                    Origin::Line { line_id } => Some(line_id),
                    Origin::Item { line_id, .. } => line_id,
                    Origin::Computed => None,
                };
                let subject = match (c.origin.clone(), item_id) {
                    (Origin::Line { line_id }, _) => format!("line:{line_id}"),
                    (_, Some(id)) => format!("item:{id}"),
                    _ => format!("{person_id}:{}:{}", c.program, c.benefit_month),
                };
                NewAnomaly {
                    code: code.as_str(),
                    dedupe_key: format!("run:{run_id}:{}:{subject}", code.as_str()),
                    person_id: Some(person_id.clone()),
                    region_code: inputs
                        .registered
                        .as_ref()
                        .map(|r| r.region_code.clone())
                        .or_else(|| c.region_code.clone()),
                    program: Some(c.program.as_str().to_string()),
                    benefit_month: Some(c.benefit_month.to_string()),
                    period: Some(period_text.clone()),
                    item_id,
                    payment_id: None,
                    roster_line_id: line,
                    run_id: Some(run_id.to_string()),
                    batch_no: None,
                    source_file_id: None,
                    detail: detail.clone(),
                }
            })
            .collect();
        runs::insert_anomalies(tx, &anomalies).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_that_failed_verification_is_no_active_card() {
        let config = Config::builtin().unwrap();
        let card = runs::ActiveCard {
            id: 7,
            person_id: "11010519491231002X".into(),
            bank_code: "105".into(),
            account_no: Some("6217000440703000014".into()),
            verification: "invalid".into(),
        };
        let Payee::None(why) = payee(Some(&card), Some("张伟"), &config) else {
            panic!("an invalid account is paid")
        };
        assert!(why.contains("failed verification"), "{why}");
        for state in ["verified", "unverified"] {
            let card = runs::ActiveCard { verification: state.into(), ..card.clone() };
            assert!(matches!(payee(Some(&card), Some("张伟"), &config), Payee::Card { card_id: 7, .. }), "{state}");
        }
    }
}
