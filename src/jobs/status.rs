//! `onecard status`: who is this, which card, which rosters list them.
//! Identifiers leave the database masked (reports.md "Masking").

use serde::Serialize;

use crate::domain::ids::{mask_account, mask_phone};
use crate::domain::PersonId;
use crate::store::{persons, rosters, runs, Store, StoreError};

#[derive(Debug, Serialize)]
pub struct PersonStatus {
    pub person_id: String,
    pub in_registry: bool,
    pub name: Option<String>,
    pub region_code: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub phone: Option<String>,
    pub death_date: Option<String>,
    pub cards: Vec<CardView>,
    /// Every transition of the person's cards, oldest first.
    pub card_history: Vec<CardEventView>,
    pub roster_lines: Vec<RosterLineView>,
    pub items: Vec<ItemView>,
    /// Urgent credits over the real-time channel (iso8583.md).
    pub realtime: Vec<RealtimeView>,
}

#[derive(Debug, Serialize)]
pub struct RealtimeView {
    pub serial_no: String,
    pub rrn: String,
    pub bank_code: String,
    pub account_no: String,
    pub amount: String,
    pub state: String,
    pub response_code: Option<String>,
    pub reversal_code: Option<String>,
    pub at: String,
}

/// One benefit of one month and what happened to it.
#[derive(Debug, Serialize)]
pub struct ItemView {
    pub benefit_month: String,
    pub program: String,
    pub amount: String,
    pub state: String,
    pub reason: Option<String>,
    pub run_id: Option<String>,
    pub serial_no: Option<String>,
    pub bank_code: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CardEventView {
    pub at: String,
    /// The card number, or the application id before the card is made.
    pub card: String,
    pub from: Option<String>,
    pub to: String,
    pub by: String,
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CardView {
    pub application_id: Option<String>,
    pub card_no: Option<String>,
    pub bank_code: String,
    pub account_no: Option<String>,
    pub state: String,
    pub verification: String,
    pub since: String,
}

#[derive(Debug, Serialize)]
pub struct RosterLineView {
    pub period: String,
    pub benefit_month: String,
    pub program: String,
    pub amount: String,
    pub name: String,
    pub region_code: String,
    pub source: String,
}

#[tracing::instrument(skip_all)]
pub async fn person_status(store: &Store, person_id: &PersonId) -> Result<PersonStatus, StoreError> {
    let pool = store.pool();
    let person = persons::get(pool, person_id.as_str()).await?;
    let cards = persons::cards_of(pool, person_id.as_str()).await?;
    let history = crate::store::cards::history(pool, person_id.as_str()).await?;
    let lines = rosters::lines_of_person(pool, person_id.as_str()).await?;
    let items = runs::items_of_person(pool, person_id.as_str()).await?;
    let credits = crate::store::realtime::credits_of_person(pool, person_id.as_str()).await?;
    Ok(PersonStatus {
        person_id: person_id.masked(),
        in_registry: person.is_some(),
        name: person.as_ref().map(|p| p.name.clone()),
        region_code: person.as_ref().map(|p| p.region_code.clone()),
        gender: person.as_ref().map(|p| if p.gender == "1" { "male" } else { "female" }.to_string()),
        birth_date: person.as_ref().map(|p| p.birth_date.clone()),
        phone: person.as_ref().and_then(|p| p.phone.as_deref().map(mask_phone)),
        death_date: person.as_ref().and_then(|p| p.death_date.clone()),
        cards: cards
            .into_iter()
            .map(|c| CardView {
                application_id: c.application_id,
                card_no: c.card_no,
                bank_code: c.bank_code,
                account_no: c.account_no.as_deref().map(mask_account),
                state: c.state,
                verification: c.verification,
                since: c.updated_at,
            })
            .collect(),
        card_history: history
            .into_iter()
            .map(|e| CardEventView {
                at: e.at,
                card: e.card_no.or(e.application_id).unwrap_or_else(|| format!("card #{}", e.card_id)),
                from: e.from_state,
                to: e.to_state,
                by: e.actor,
                note: e.note,
            })
            .collect(),
        roster_lines: lines
            .into_iter()
            .map(|l| RosterLineView {
                period: l.period,
                benefit_month: l.benefit_month,
                program: l.program,
                amount: crate::domain::Money::from_fen(l.amount_fen).unwrap_or_default().to_string(),
                name: l.name,
                region_code: l.region_code,
                source: format!("{}:{}", l.file_name, l.line_no),
            })
            .collect(),
        items: items
            .into_iter()
            .map(|i| ItemView {
                benefit_month: i.benefit_month,
                program: i.program,
                amount: crate::domain::Money::from_fen(i.amount_fen).unwrap_or_default().to_string(),
                reason: match (i.hold_code, i.bank_reason) {
                    (_, Some(bank)) if i.state == "failed" => Some(format!("bank: {bank}")),
                    (Some(code), _) if i.state == "held" => {
                        Some(format!("{code}: {}", i.hold_detail.unwrap_or_default()))
                    }
                    _ => None,
                },
                state: i.state,
                run_id: i.run_id,
                serial_no: i.serial_no,
                bank_code: i.bank_code,
            })
            .collect(),
        realtime: credits
            .into_iter()
            .map(|c| RealtimeView {
                serial_no: c.serial_no,
                rrn: c.rrn,
                bank_code: c.bank_code,
                account_no: mask_account(&c.account_no),
                amount: crate::domain::Money::from_fen(c.amount_fen).unwrap_or_default().to_string(),
                state: c.state,
                response_code: c.response_code,
                reversal_code: c.reversal_code,
                at: c.settled_at.unwrap_or(c.created_at),
            })
            .collect(),
    })
}

impl PersonStatus {
    /// The human view printed by `onecard status`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        if !self.in_registry {
            out.push_str(&format!("{}  NOT IN THE REGISTRY\n", self.person_id));
        } else {
            out.push_str(&format!(
                "{}  {}  {}  born {}  region {}  phone {}{}\n",
                self.person_id,
                dash(&self.name),
                dash(&self.gender),
                dash(&self.birth_date),
                dash(&self.region_code),
                dash(&self.phone),
                self.death_date.as_ref().map(|d| format!("  DIED {d}")).unwrap_or_default()
            ));
        }
        out.push_str("\nCards\n");
        if self.cards.is_empty() {
            out.push_str("  none: items are held with no_active_card until a card is active\n");
        }
        for c in &self.cards {
            out.push_str(&format!(
                "  {:<20} bank {}  account {:<20} {:<13} {:<10} since {}\n",
                c.card_no.clone().or_else(|| c.application_id.clone()).unwrap_or_else(|| "-".into()),
                c.bank_code,
                dash(&c.account_no),
                c.state,
                c.verification,
                c.since
            ));
        }
        if !self.card_history.is_empty() {
            out.push_str("\nCard history\n");
        }
        for e in &self.card_history {
            out.push_str(&format!(
                "  {}  {:<20} {:>13} -> {:<13} by {}  {}\n",
                e.at,
                e.card,
                e.from.as_deref().unwrap_or("(new)"),
                e.to,
                e.by,
                e.note.as_deref().unwrap_or("")
            ));
        }
        out.push_str("\nItems and payments\n");
        if self.items.is_empty() {
            out.push_str("  no item has been decided by a run yet\n");
        }
        for i in &self.items {
            out.push_str(&format!(
                "  {}  {:<18} {:>10}  {:<11} {}{}\n",
                i.benefit_month,
                i.program,
                i.amount,
                i.state,
                i.serial_no
                    .as_ref()
                    .map(|s| format!("{} serial {s} bank {}  ", dash(&i.run_id), dash(&i.bank_code)))
                    .unwrap_or_default(),
                i.reason.clone().unwrap_or_default()
            ));
        }
        if !self.realtime.is_empty() {
            out.push_str("\nReal-time credits\n");
        }
        for c in &self.realtime {
            out.push_str(&format!(
                "  {}  serial {}  bank {}  account {}  {:>10}  {:<9} answer {}{}\n",
                c.at,
                c.serial_no,
                c.bank_code,
                c.account_no,
                c.amount,
                c.state,
                c.response_code.as_deref().unwrap_or("none"),
                c.reversal_code.as_ref().map(|r| format!("  reversal {r}")).unwrap_or_default()
            ));
        }
        out.push_str("\nRosters\n");
        if self.roster_lines.is_empty() {
            out.push_str("  no roster lists this person\n");
        }
        for l in &self.roster_lines {
            out.push_str(&format!(
                "  {}  for {}  {:<18} {:>10}  {}  {}  {}\n",
                l.period, l.benefit_month, l.program, l.amount, l.name, l.region_code, l.source
            ));
        }
        out
    }
}
