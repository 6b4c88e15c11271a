//! Money: Chinese yuan with at most two decimals, held as integer fen.
//!
//! Parsing is strict (domain.md "Money"): a sign, a thousands separator, a
//! currency symbol or a third decimal is rejected, never rounded. Arithmetic
//! is checked; there is no floating point anywhere in this type.

use std::fmt;
use std::iter::Sum;
use std::ops::Add;

use rust_decimal::Decimal;

/// An exact amount of money in fen (分, 1/100 yuan). Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount '{0}' has a sign; amounts are written without + or -")]
    Sign(String),
    #[error("amount '{0}' has a thousands separator; write 1234.00, not 1,234.00")]
    ThousandsSeparator(String),
    #[error("amount '{0}' has a currency symbol or unit; write digits only")]
    Currency(String),
    #[error("amount '{0}' has more than two decimals; it is not rounded")]
    TooManyDecimals(String),
    #[error("amount '{0}' looks like spreadsheet scientific notation; re-export the column as text")]
    Scientific(String),
    #[error("amount '{0}' is not a number")]
    NotANumber(String),
    #[error("amount '{0}' is too large")]
    TooLarge(String),
    #[error("amount is zero; zero is not a payable amount")]
    Zero,
}

/// Largest amount accepted anywhere: one thousand billion yuan, far above any
/// control total, small enough that sums of a province's payments cannot overflow i64.
const MAX_FEN: i64 = 100_000_000_000_000;

impl Money {
    pub const ZERO: Money = Money(0);

    /// Parses a yuan amount such as `780`, `780.5` or `780.00`. Zero is allowed
    /// here (totals may be zero); use [`Money::parse_payable`] for an item amount.
    pub fn parse(raw: &str) -> Result<Money, MoneyError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        let owned = || s.to_string();
        if s.starts_with(['+', '-']) {
            return Err(MoneyError::Sign(owned()));
        }
        if s.contains([',', '，']) {
            return Err(MoneyError::ThousandsSeparator(owned()));
        }
        if s.contains(['¥', '￥', '$', '元']) || s.to_ascii_uppercase().contains("CNY") {
            return Err(MoneyError::Currency(owned()));
        }
        if s.contains(['e', 'E']) && s.chars().any(|c| c.is_ascii_digit()) {
            return Err(MoneyError::Scientific(owned()));
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return Err(MoneyError::NotANumber(owned()));
        }
        let frac = match frac_part {
            None => "",
            Some(f) if all_digits(f) => f,
            Some(_) => return Err(MoneyError::NotANumber(owned())),
        };
        if frac.len() > 2 {
            return Err(MoneyError::TooManyDecimals(owned()));
        }
        if int_part.len() > 13 {
            return Err(MoneyError::TooLarge(owned()));
        }
        let yuan: i64 = int_part.parse().map_err(|_| MoneyError::NotANumber(owned()))?;
        let mut fen_frac: i64 =
            if frac.is_empty() { 0 } else { frac.parse().map_err(|_| MoneyError::NotANumber(owned()))? };
        if frac.len() == 1 {
            fen_frac *= 10;
        }
        let fen = yuan * 100 + fen_frac;
        if fen > MAX_FEN {
            return Err(MoneyError::TooLarge(owned()));
        }
        Ok(Money(fen))
    }

    /// Parses an amount that is to be paid: as [`Money::parse`], and not zero.
    pub fn parse_payable(raw: &str) -> Result<Money, MoneyError> {
        match Money::parse(raw)? {
            Money(0) => Err(MoneyError::Zero),
            m => Ok(m),
        }
    }

    /// An amount stored as integer fen. Negative values cannot be money here.
    pub fn from_fen(fen: i64) -> Option<Money> {
        (0..=MAX_FEN).contains(&fen).then_some(Money(fen))
    }

    /// A whole number of yuan, for configuration defaults and tests.
    pub const fn yuan(yuan: i64) -> Money {
        Money(yuan * 100)
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Exact conversion from a decimal with at most two decimal places.
    pub fn from_decimal(d: Decimal) -> Option<Money> {
        let d = d.normalize();
        if d.scale() > 2 || d.is_sign_negative() {
            return None;
        }
        let fen = (d * Decimal::ONE_HUNDRED).trunc();
        i64::try_from(fen).ok().and_then(Money::from_fen)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).and_then(Money::from_fen)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).and_then(Money::from_fen)
    }
}

/// Addition of amounts that are each below `MAX_FEN`; i64 holds the sum of
/// 90,000 such amounts, far more than any file or run can carry at that size.
impl Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// Yuan with exactly two decimals, as the spec writes amounts: `780.00`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_amounts() {
        for (raw, fen) in [
            ("780.00", 78000),
            ("780", 78000),
            ("780.5", 78050),
            ("0.01", 1),
            (" 12.34 ", 1234),
            ("0", 0),
            ("0000012.30", 1230),
            ("20000.00", 2_000_000),
        ] {
            assert_eq!(Money::parse(raw), Ok(Money(fen)), "{raw}");
        }
    }

    #[test]
    fn rejects_what_it_would_have_to_guess() {
        use MoneyError::*;
        type Case<'a> = (&'a str, fn(String) -> MoneyError);
        let cases: &[Case] = &[
            ("-780.00", Sign),
            ("+780.00", Sign),
            ("1,234.00", ThousandsSeparator),
            ("¥780.00", Currency),
            ("780元", Currency),
            ("CNY 780", Currency),
            ("780.001", TooManyDecimals),
            ("7.8E+02", Scientific),
            ("1e3", Scientific),
            ("78O.00", NotANumber),
            (".50", NotANumber),
            ("780.", NotANumber),
            ("7 80", NotANumber),
            ("12345678901234.00", TooLarge),
        ];
        for (raw, want) in cases {
            assert_eq!(Money::parse(raw), Err(want(raw.trim().to_string())), "{raw}");
        }
        assert_eq!(Money::parse("  "), Err(Empty));
        assert_eq!(Money::parse_payable("0.00"), Err(Zero));
    }

    #[test]
    fn displays_two_decimals_and_round_trips() {
        assert_eq!(Money(78000).to_string(), "780.00");
        assert_eq!(Money(5).to_string(), "0.05");
        assert_eq!(Money(123456).to_decimal().to_string(), "1234.56");
        assert_eq!(Money::from_decimal(Decimal::new(123456, 2)), Some(Money(123456)));
        assert_eq!(Money::from_decimal(Decimal::new(1, 3)), None);
        assert_eq!(Money::from_decimal(Decimal::new(-1, 2)), None);
        assert_eq!(Money::from_decimal(Decimal::new(7800, 1)), Some(Money(78000)));
    }

    #[test]
    fn never_negative() {
        assert_eq!(Money::from_fen(-1), None);
        assert_eq!(Money(1).checked_sub(Money(2)), None);
        assert_eq!([Money(1), Money(2)].into_iter().sum::<Money>(), Money(3));
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_is_identity(fen in 0i64..MAX_FEN) {
            let m = Money(fen);
            proptest::prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        }
    }
}
