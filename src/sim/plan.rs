//! The bank's decisions, one request line at a time, from a ChaCha8 generator
//! seeded by the seed and the batch number. The generator draws the same
//! numbers for every line, so a second pass over the same request makes the
//! same decisions and nothing per line has to be kept between passes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::{SimError, SimOptions};

/// A bank reason code and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reason {
    pub code: &'static str,
    pub text: &'static str,
}

pub(super) const fn reason(code: &'static str, text: &'static str) -> Reason {
    Reason { code, text }
}

/// Success in TXT-A and FIX-B.
pub(super) const TEXT_PAID: Reason = reason("0000", "成功");

/// Every failure code of TXT-A and FIX-B (bank-files.md).
pub(super) const TEXT_FAILURES: [Reason; 7] = [
    reason("1001", "账号不存在"),
    reason("1002", "户名不符"),
    reason("1003", "账户已销户"),
    reason("1004", "账户冻结或止付"),
    reason("1005", "卡已挂失"),
    reason("1006", "证件号码不符"),
    reason("9999", "其他"),
];

/// The ISO 20022 codes bank-files.md maps, and one it leaves to `other`.
pub(super) const ISO_FAILURES: [Reason; 7] = [
    reason("AC01", "IncorrectAccountNumber"),
    reason("AC04", "ClosedAccountNumber"),
    reason("AC06", "BlockedAccount"),
    reason("BE01", "InconsistentWithEndCustomer"),
    reason("RR01", "MissingDebtorAccountOrIdentification"),
    reason("RR02", "MissingDebtorNameOrAddress"),
    reason("MS03", "NotSpecifiedReasonAgentGenerated"),
];

/// The group reason of `--reject-batch`: the payer account cannot cover the batch.
pub(super) const ISO_GROUP_REJECT: Reason = reason("AM04", "InsufficientFunds");

/// Statuses that are not final; pain.002.001.03 cannot carry `RCVD`.
pub(super) const IN_FLIGHT_V03: [&str; 5] = ["ACTC", "ACCP", "ACSP", "ACWC", "PDNG"];
pub(super) const IN_FLIGHT_V12: [&str; 6] = ["ACTC", "ACCP", "ACSP", "ACWC", "PDNG", "RCVD"];

/// The rates of [`SimOptions`], checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rates {
    fail: f64,
    omit: f64,
    duplicate: f64,
    in_flight: f64,
}

impl Rates {
    pub fn of(opts: &SimOptions) -> Result<Rates, SimError> {
        let named = [
            ("--fail-rate", opts.fail_rate),
            ("--omit-rate", opts.omit_rate),
            ("--duplicate-rate", opts.duplicate_rate),
            ("--in-flight-rate", opts.in_flight_rate),
        ];
        for (name, rate) in named {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::Options(format!("{name} {rate} is not a probability between 0 and 1")));
            }
        }
        if opts.fail_rate + opts.in_flight_rate > 1.0 {
            return Err(SimError::Options(format!(
                "--fail-rate {} and --in-flight-rate {} add up to more than 1",
                opts.fail_rate, opts.in_flight_rate
            )));
        }
        Ok(Rates {
            fail: opts.fail_rate,
            omit: opts.omit_rate,
            duplicate: opts.duplicate_rate,
            in_flight: opts.in_flight_rate,
        })
    }
}

/// What the bank says about one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Paid,
    Failed(Reason),
    InFlight(&'static str),
}

/// What happens to one request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fate {
    /// In no return file.
    Omitted,
    /// In the part it was dealt to, and a second time in `duplicate_part` if set.
    Returned { verdict: Verdict, duplicate_part: Option<usize>, bank_ref: String },
}

/// One request line's decision and the return file it is dealt to (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub part: usize,
    pub fate: Fate,
}

/// Makes the decisions for the lines of one batch, in file order.
pub(super) struct Decider {
    rng: ChaCha8Rng,
    rates: Rates,
    failures: &'static [Reason],
    in_flight: &'static [&'static str],
    parts: usize,
    index: usize,
    failed: usize,
}

impl Decider {
    /// `parts` is at least 1; failures cycle through `failures` so that every
    /// code appears once there are as many failures as codes.
    pub fn new(
        seed: u64,
        batch_no: &str,
        rates: Rates,
        failures: &'static [Reason],
        in_flight: &'static [&'static str],
        parts: usize,
    ) -> Decider {
        let mut hash = Sha256::new();
        hash.update(b"onecard bank simulator\0");
        hash.update(seed.to_le_bytes());
        hash.update(batch_no.as_bytes());
        let rng = ChaCha8Rng::from_seed(hash.finalize().into());
        Decider { rng, rates, failures, in_flight, parts: parts.max(1), index: 0, failed: 0 }
    }

    pub fn next_line(&mut self) -> Line {
        // Every line draws the same numbers, whatever is decided.
        let omit = self.rng.gen::<f64>() < self.rates.omit;
        let duplicate = self.rng.gen::<f64>() < self.rates.duplicate;
        let outcome = self.rng.gen::<f64>();
        let status_pick = self.rng.gen::<u32>() as usize;
        let duplicate_pick = self.rng.gen::<u32>() as usize;
        let bank_ref = bank_ref(self.rng.gen::<u64>());

        let part = self.index % self.parts;
        self.index += 1;
        if omit {
            return Line { part, fate: Fate::Omitted };
        }
        let verdict = if outcome < self.rates.fail && !self.failures.is_empty() {
            let reason = self.failures[self.failed % self.failures.len()];
            self.failed += 1;
            Verdict::Failed(reason)
        } else if outcome < self.rates.fail + self.rates.in_flight && !self.in_flight.is_empty() {
            Verdict::InFlight(self.in_flight[status_pick % self.in_flight.len()])
        } else {
            Verdict::Paid
        };
        let duplicate_part = duplicate.then_some(duplicate_pick % self.parts);
        Line { part, fate: Fate::Returned { verdict, duplicate_part, bank_ref } }
    }
}

/// The bank's reference: `SB` and 13 base-36 digits, 15 characters `[0-9A-Z]`.
fn bank_ref(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = *b"SB0000000000000";
    for slot in out[2..].iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    // 36^13 > 2^64, so `n` is spent; the bytes are ASCII from DIGITS.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_ref_is_fifteen_base36_characters() {
        for n in [0, 1, 35, u64::MAX] {
            let r = bank_ref(n);
            assert_eq!(r.len(), 15, "{r}");
            assert!(r.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{r}");
        }
        assert_eq!(bank_ref(35), "SB000000000000Z");
        assert_ne!(bank_ref(u64::MAX), bank_ref(u64::MAX - 1));
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        for opts in [
            SimOptions { fail_rate: 1.5, ..SimOptions::default() },
            SimOptions { omit_rate: -0.1, ..SimOptions::default() },
            SimOptions { duplicate_rate: f64::NAN, ..SimOptions::default() },
            SimOptions { fail_rate: 0.6, in_flight_rate: 0.5, ..SimOptions::default() },
        ] {
            assert!(matches!(Rates::of(&opts), Err(SimError::Options(_))), "{opts:?}");
        }
    }
}
