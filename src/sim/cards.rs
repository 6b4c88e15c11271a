//! Answers a card-making request (card-issuance.md) as the issuing bank: it
//! makes most cards, opening an account behind each, and refuses a share with
//! reasons. The request is checked whole before anything is written.
//!
//! Card numbers are `M` and eight digits taken from the application's
//! sequence (the last eight digits of an application id this system wrote),
//! so two applications never get the same number; accounts are the bank's
//! BIN, a branch of its own and the same digits, with a Luhn check digit.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::outbox::{write_err, Staged};
use super::plan::{reason, Decider, Fate, Rates, Reason, Verdict};
use super::{SimError, SimFileSummary, SimOptions, Tally};
use crate::config::Layout;
use crate::domain::{AccountNo, CardNo};
use crate::formats::bank::cards::{self as files, Application, Made, ReturnHeader, ReturnLine};

/// Why a bank refuses to make a card.
const CARD_FAILURES: [Reason; 4] = [
    reason("2001", "身份信息核验不符"),
    reason("2002", "照片不合格"),
    reason("2003", "已持有本行社保卡"),
    reason("9999", "其他"),
];

const MADE: Reason = reason("0000", "成功");

pub(super) fn answer(request: &Path, opts: &SimOptions, out_dir: &Path) -> Result<Vec<SimFileSummary>, SimError> {
    if opts.in_flight_rate > 0.0 || opts.reject_batch || opts.pain002.is_some() {
        return Err(SimError::Options(
            "--in-flight-rate, --reject-batch and --pain002 apply only to ISO 20022 disbursements".into(),
        ));
    }
    let file = File::open(request).map_err(|source| SimError::Read { path: request.to_path_buf(), source })?;
    let mut apps = Vec::new();
    let header = files::read_request(&mut BufReader::new(file), &mut |a| {
        apps.push(a);
        Ok(())
    })
    .map_err(|source| SimError::Request { path: request.to_path_buf(), source })?;

    let parts = opts.split.max(1) as usize;
    let mut decider = Decider::new(opts.seed, &header.batch_no, Rates::of(opts)?, &CARD_FAILURES, &[], parts);
    let mut dealt: Vec<Vec<ReturnLine>> = vec![Vec::new(); parts];
    let mut omitted = vec![0u64; parts];
    let mut duplicated = vec![0u64; parts];
    for app in &apps {
        let line = decider.next_line();
        match line.fate {
            Fate::Omitted => omitted[line.part] += 1,
            Fate::Returned { verdict, duplicate_part, .. } => {
                let answer = answer_line(app, verdict);
                if let Some(extra) = duplicate_part {
                    dealt[extra].push(answer.clone());
                    duplicated[extra] += 1;
                }
                dealt[line.part].push(answer);
            }
        }
    }

    let stem = request.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let names: Vec<String> = match parts {
        1 => vec![format!("{stem}.ret")],
        n => (1..=n).map(|k| format!("{stem}.part{k}.ret")).collect(),
    };
    let (staged, outs) = Staged::create(out_dir, &names)?;
    let mut summaries = Vec::with_capacity(parts);
    for (i, mut out) in outs.into_iter().enumerate() {
        let lines = &mut dealt[i];
        lines.sort_by_key(|l| l.seq);
        let ok = lines.iter().filter(|l| l.made != Made::Refused).count() as u64;
        let h = ReturnHeader {
            batch_no: header.batch_no.clone(),
            count: lines.len() as u64,
            ok_count: ok,
            fail_count: lines.len() as u64 - ok,
        };
        let path = staged.path(i).to_path_buf();
        let write = |out: &mut dyn Write| -> std::io::Result<()> {
            files::write_return_header(out, &h)?;
            lines.iter().try_for_each(|l| files::write_return_line(out, l))
        };
        write(&mut out).map_err(write_err(&path))?;
        staged.close(i, out)?;
        summaries.push(SimFileSummary {
            file: path.display().to_string(),
            layout: Layout::TxtA,
            kind: "card_making",
            batch_no: header.batch_no.clone(),
            lines: h.count,
            paid: Tally { count: ok, ..Default::default() },
            failed: Tally { count: h.fail_count, ..Default::default() },
            in_flight: Tally::default(),
            omitted: omitted[i],
            duplicated: duplicated[i],
            group_rejected: false,
        });
    }
    staged.commit()?;
    Ok(summaries)
}

fn answer_line(app: &Application, verdict: Verdict) -> ReturnLine {
    let made = match verdict {
        Verdict::Paid => make_card(app),
        Verdict::Failed(_) | Verdict::InFlight(_) => None,
    };
    let reason = match (&made, verdict) {
        (Some(_), _) => MADE,
        (None, Verdict::Failed(r)) => r,
        (None, _) => CARD_FAILURES[CARD_FAILURES.len() - 1],
    };
    ReturnLine {
        line_no: 0,
        seq: app.seq,
        application_id: app.application_id.clone(),
        person_id: app.person_id.clone(),
        made: made.unwrap_or(Made::Refused),
        reason_code: reason.code.into(),
        reason_text: reason.text.into(),
    }
}

/// The card and account the bank opens for an application.
fn make_card(app: &Application) -> Option<Made> {
    let digits: String = app.application_id.chars().rev().take_while(char::is_ascii_digit).take(8).collect();
    let serial: u64 = if digits.len() == 8 {
        digits.chars().rev().collect::<String>().parse().ok()?
    } else {
        // Not an id of ours: eight digits from its hash.
        let h = Sha256::digest(app.application_id.as_bytes());
        u64::from_be_bytes(h[..8].try_into().ok()?) % 100_000_000
    };
    let bin = crate::gen::bank_bin(&app.bank_code).unwrap_or("620000");
    let card_no = CardNo::parse(&format!("M{serial:08}")).ok()?;
    let account_no = AccountNo::with_check_digit(&format!("{bin}7777{serial:08}"))?;
    Some(Made::Card { card_no, account_no })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_numbered_after_the_application() {
        let app = Application {
            seq: 1,
            application_id: "A202611230000000123".into(),
            person_id: "11010519491231002X".into(),
            name: "张三".into(),
            gender: 2,
            birth_date: chrono::NaiveDate::from_ymd_opt(1949, 12, 31).unwrap(),
            region_code: "440703001001".into(),
            phone: String::new(),
            bank_code: "102".into(),
        };
        let Some(Made::Card { card_no, account_no }) = make_card(&app) else { panic!("no card") };
        assert_eq!(card_no.as_str(), "M00000123");
        assert!(account_no.as_str().starts_with("62220277770000012"));
    }
}
