//! The payout rules of domain.md "A payout month": a pure function from one
//! person's inputs to one decision per item key and per input line. The run
//! job gathers the inputs and stores the decisions; the rules live here, once.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::config::Config;
use crate::domain::{AnomalyCode, Money, Period, Program};

/// What the registry says of the person.
#[derive(Debug, Clone)]
pub struct Registered {
    pub name: String,
    pub region_code: String,
    pub death_date: Option<NaiveDate>,
}

/// The card a payment would go to, or why there is none.
#[derive(Debug, Clone)]
pub enum Payee {
    Card {
        card_id: i64,
        bank_code: String,
        account_no: String,
        /// A character of the registered name the bank's file encoding (GBK) cannot carry.
        unencodable: Option<char>,
    },
    /// No active card with an account; the text says why (never issued, lost, invalid account…).
    None(String),
}

/// Where an input came from: a roster line not yet decided, an item carried
/// over from an earlier run (held, pending, or failed and ready again), or
/// the computed elderly allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Line { line_id: i64 },
    Item { item_id: i64, line_id: Option<i64> },
    Computed,
}

/// One input: a candidate for one item key.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub origin: Origin,
    pub program: Program,
    pub benefit_month: Period,
    pub amount: Money,
    /// The roster's name and region (none for computed items).
    pub name: Option<String>,
    pub region_code: Option<String>,
    /// Roster file order (file, line) for the duplicate tie-break; carried-over items come first.
    pub order: (i64, i64),
}

/// An item of the person already decided in an earlier run, not an input now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Paid, or in a payment not yet failed (scheduled, approved, sent, unconfirmed).
    Claimed,
    Cancelled,
    NotPayable,
    /// Failed at the bank and not yet ready to be paid again.
    FailedWaiting,
}

#[derive(Debug, Clone)]
pub struct Existing {
    pub item_id: i64,
    pub program: Program,
    pub benefit_month: Period,
    pub settled: Settled,
}

#[derive(Debug, Clone)]
pub struct PersonInputs {
    pub person_id: String,
    pub registered: Option<Registered>,
    pub payee: Payee,
    pub candidates: Vec<Candidate>,
    pub existing: Vec<Existing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pay,
    /// Held: may be paid once the cause clears.
    Hold(AnomalyCode),
    /// Not paid by this run's decision (`deceased`, `duplicate_line`, `already_paid`).
    NotPaid(AnomalyCode),
    /// Not an input after all (the key was cancelled or waits for a retry); nothing to record.
    Skip,
}

/// The decision for one key: the candidate that stands for it and what happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub candidate: usize,
    pub outcome: Outcome,
    pub detail: String,
    /// The stored item of this key, when there is one.
    pub item_id: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// One per key, in key order (program, benefit month).
    pub keys: Vec<Decision>,
    /// Other lines of a key that are not paid (`duplicate_line`).
    pub duplicates: Vec<Decision>,
}

impl Decisions {
    /// The amount of the person's one payment.
    pub fn payable_total(&self, inputs: &PersonInputs) -> Money {
        self.keys.iter().filter(|d| d.outcome == Outcome::Pay).map(|d| inputs.candidates[d.candidate].amount).sum()
    }
}

type Key = (Program, Period);

/// Applies the rules of domain.md, in their order, to one person.
pub fn decide(inputs: &PersonInputs, config: &Config) -> Decisions {
    let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, c) in inputs.candidates.iter().enumerate() {
        groups.entry((c.program, c.benefit_month)).or_default().push(i);
    }
    let settled: BTreeMap<Key, &Existing> = inputs.existing.iter().map(|e| ((e.program, e.benefit_month), e)).collect();
    let claimed = |k: &Key| settled.get(k).is_some_and(|e| e.settled == Settled::Claimed);

    let mut out = Decisions::default();
    // Rules 1–5, key by key; `open` keeps the keys still undecided.
    let mut open: BTreeMap<Key, Decision> = BTreeMap::new();
    for (key, members) in &groups {
        let rep = representative(inputs, members);
        let item_id = members.iter().find_map(|&i| match inputs.candidates[i].origin {
            Origin::Item { item_id, .. } => Some(item_id),
            _ => None,
        });
        for &other in members.iter().filter(|&&i| i != rep) {
            let detail = format!("another line for {} {} is kept", key.0, key.1);
            out.duplicates.push(Decision {
                candidate: other,
                outcome: Outcome::NotPaid(AnomalyCode::DuplicateLine),
                detail,
                item_id,
            });
        }
        let existing = settled.get(key);
        let item_id = item_id.or(existing.map(|e| e.item_id));
        let decided = |outcome, detail: String| Decision { candidate: rep, outcome, detail, item_id };
        let c = &inputs.candidates[rep];
        let decision = match rule_1_to_3(inputs, c) {
            Some((outcome, detail)) => decided(outcome, detail),
            None => match existing.map(|e| e.settled) {
                Some(Settled::Claimed) => decided(
                    Outcome::NotPaid(AnomalyCode::AlreadyPaid),
                    format!("{} {} is already paid or in a payment", key.0, key.1),
                ),
                Some(Settled::NotPayable) => {
                    decided(Outcome::NotPaid(AnomalyCode::Deceased), "the item is not payable".into())
                }
                Some(Settled::Cancelled | Settled::FailedWaiting) => decided(Outcome::Skip, String::new()),
                None => {
                    open.insert(*key, decided(Outcome::Pay, String::new()));
                    continue;
                }
            },
        };
        out.keys.push(decision);
    }

    // Rule 6: exclusive programs in one benefit month hold both.
    let present = |k: &Key, open: &BTreeMap<Key, Decision>| open.contains_key(k) || claimed(k);
    let mut conflicts = Vec::new();
    for &(a, b) in &config.exclusive {
        for key in open.keys() {
            let (p, month) = *key;
            let other = if p == a {
                b
            } else if p == b {
                a
            } else {
                continue;
            };
            if present(&(other, month), &open) {
                conflicts.push((*key, format!("{a} and {b} both for {month}")));
            }
        }
    }
    for (key, detail) in conflicts {
        if let Some(d) = open.get_mut(&key) {
            d.outcome = Outcome::Hold(AnomalyCode::ExclusiveConflict);
            d.detail = detail;
        }
    }

    // Rules 7–9, prerequisites last so that they see their required items' outcome.
    let requires = |p: Program| config.prerequisites.iter().find(|(q, _)| *q == p).map(|(_, r)| *r);
    let keys: Vec<Key> = open.keys().copied().collect();
    let (dependent, independent): (Vec<Key>, Vec<Key>) = keys.iter().partition(|(p, _)| requires(*p).is_some());
    let mut unemployment_months =
        inputs.existing.iter().filter(|e| e.program == Program::Unemployment && e.settled == Settled::Claimed).count()
            as u32;
    for key in independent.iter().chain(&dependent) {
        let Some(d) = open.get(key) else { continue };
        if d.outcome != Outcome::Pay {
            continue;
        }
        let c = &inputs.candidates[d.candidate];
        let hold = if let Some(required) = requires(key.0) {
            let required_ok =
                claimed(&(required, key.1)) || open.get(&(required, key.1)).is_some_and(|r| r.outcome == Outcome::Pay);
            (!required_ok)
                .then(|| (AnomalyCode::MissingPrerequisite, format!("no payable {required} item for {}", key.1)))
        } else {
            None
        };
        let cap = config.program(key.0).cap;
        let hold = hold.or_else(|| {
            (c.amount > cap)
                .then(|| (AnomalyCode::CapExceeded, format!("{} is above the {} cap of {cap}", c.amount, key.0)))
        });
        let hold = hold.or_else(|| {
            if key.0 != Program::Unemployment {
                return None;
            }
            if unemployment_months >= config.unemployment_month_limit {
                return Some((
                    AnomalyCode::UnemploymentLimit,
                    format!("{unemployment_months} months paid, limit {}", config.unemployment_month_limit),
                ));
            }
            unemployment_months += 1;
            None
        });
        if let (Some((code, detail)), Some(d)) = (hold, open.get_mut(key)) {
            d.outcome = Outcome::Hold(code);
            d.detail = detail;
        }
    }

    // Rule 10: no active card holds whatever is still payable.
    if let Payee::None(why) = &inputs.payee {
        for d in open.values_mut().filter(|d| d.outcome == Outcome::Pay) {
            d.outcome = Outcome::Hold(AnomalyCode::NoActiveCard);
            d.detail = why.clone();
        }
    }
    out.keys.extend(open.into_values());
    out.keys.sort_by_key(|d| (inputs.candidates[d.candidate].program, inputs.candidates[d.candidate].benefit_month));
    out
}

/// The line a key keeps among several: the one whose roster region is the
/// registry region, else the first in roster file order.
fn representative(inputs: &PersonInputs, members: &[usize]) -> usize {
    let region = inputs.registered.as_ref().map(|r| r.region_code.as_str());
    let first = |it: &mut dyn Iterator<Item = usize>| it.min_by_key(|&i| inputs.candidates[i].order);
    let matching =
        members.iter().copied().filter(|&i| region.is_some() && inputs.candidates[i].region_code.as_deref() == region);
    first(&mut matching.into_iter()).or_else(|| first(&mut members.iter().copied())).unwrap_or(members[0])
}

/// Unknown person, name mismatch (including a name the bank's encoding cannot carry), deceased.
fn rule_1_to_3(inputs: &PersonInputs, c: &Candidate) -> Option<(Outcome, String)> {
    let Some(reg) = &inputs.registered else {
        return Some((Outcome::Hold(AnomalyCode::UnknownPerson), "the person is not in the registry".into()));
    };
    if let Some(name) = &c.name {
        if *name != reg.name {
            return Some((
                Outcome::Hold(AnomalyCode::NameMismatch),
                format!("roster name {name}, registry name {}", reg.name),
            ));
        }
    }
    if let Payee::Card { unencodable: Some(ch), bank_code, .. } = &inputs.payee {
        return Some((
            Outcome::Hold(AnomalyCode::NameMismatch),
            format!("character '{ch}' of the registered name cannot be encoded in GBK for bank {bank_code}"),
        ));
    }
    if let Some(death) = reg.death_date {
        if c.benefit_month > Period::of(death) {
            return Some((Outcome::NotPaid(AnomalyCode::Deceased), format!("died {death}")));
        }
    }
    None
}

/// The remark of a payment: the period and the programs' statement names,
/// e.g. `2026-11 低保金+高龄津贴`, marked when it carries back pay (补发).
pub fn remark(period: Period, paid: &[(Program, Period)], config: &Config) -> String {
    let mut programs: Vec<Program> = paid.iter().map(|(p, _)| *p).collect();
    programs.sort();
    programs.dedup();
    let names: Vec<&str> = programs.iter().map(|p| config.program(*p).name.as_str()).collect();
    let arrears = if paid.iter().any(|(_, m)| *m < period) { "(含补发)" } else { "" };
    format!("{period} {}{arrears}", names.join("+"))
}

/// The computed elderly allowance of a person born on `birth` for `month`:
/// alive on its last day, age on that day in a tier.
pub fn elderly_amount(birth: NaiveDate, death: Option<NaiveDate>, month: Period, config: &Config) -> Option<Money> {
    let last = month.last_day();
    if death.is_some_and(|d| d < last) {
        return None;
    }
    let mut age = chrono::Datelike::year(&last) - chrono::Datelike::year(&birth);
    if (chrono::Datelike::month(&last), chrono::Datelike::day(&last))
        < (chrono::Datelike::month(&birth), chrono::Datelike::day(&birth))
    {
        age -= 1;
    }
    config.elderly_amount(age)
}

#[cfg(test)]
#[path = "payout_tests.rs"]
mod tests;
