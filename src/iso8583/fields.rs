//! The field table of iso8583.md "Fields used": the only place that knows a
//! field's format. Encoding and decoding are both driven by it.

/// The characters a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `n`: digits.
    Numeric,
    /// `an`: letters and digits.
    Alphanumeric,
    /// `ans`: printable ASCII, space included.
    Special,
}

impl Charset {
    pub fn allows(self, b: u8) -> bool {
        match self {
            Charset::Numeric => b.is_ascii_digit(),
            Charset::Alphanumeric => b.is_ascii_alphanumeric(),
            Charset::Special => (0x20..=0x7e).contains(&b),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Charset::Numeric => "n",
            Charset::Alphanumeric => "an",
            Charset::Special => "ans",
        }
    }
}

/// How a field's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Exactly this many characters.
    Fixed(usize),
    /// A 2-digit length prefix, then at most this many characters.
    LlVar(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub number: u8,
    pub charset: Charset,
    pub length: Length,
    pub name: &'static str,
}

const fn fixed(number: u8, charset: Charset, len: usize, name: &'static str) -> FieldSpec {
    FieldSpec { number, charset, length: Length::Fixed(len), name }
}

const fn llvar(number: u8, charset: Charset, max: usize, name: &'static str) -> FieldSpec {
    FieldSpec { number, charset, length: Length::LlVar(max), name }
}

use Charset::{Alphanumeric as AN, Numeric as N, Special as ANS};

/// Every field the spec uses, in field order.
pub const FIELDS: &[FieldSpec] = &[
    llvar(2, N, 19, "account number"),
    fixed(3, N, 6, "processing code"),
    fixed(4, N, 12, "amount in fen"),
    fixed(7, N, 10, "transmission date and time"),
    fixed(11, N, 6, "STAN"),
    fixed(12, N, 6, "local time"),
    fixed(13, N, 4, "local date"),
    llvar(32, N, 11, "acquiring institution id"),
    fixed(37, AN, 12, "retrieval reference number"),
    fixed(39, AN, 2, "response code"),
    fixed(41, ANS, 8, "terminal id"),
    fixed(49, N, 3, "currency"),
    fixed(70, N, 3, "network management code"),
    fixed(90, N, 42, "original data elements"),
    llvar(102, ANS, 28, "account holder id"),
    fixed(128, AN, 16, "MAC"),
];

/// The table entry of field `number`, if the spec uses it.
pub fn spec(number: u8) -> Option<&'static FieldSpec> {
    FIELDS.iter().find(|f| f.number == number)
}

/// The MAC field: always last, always 16 characters.
pub const MAC_FIELD: u8 = 128;
pub const MAC_LEN: usize = 16;

/// Checks a value against its field's format; the error says what is wrong.
pub fn check(spec: &FieldSpec, value: &[u8]) -> Result<(), String> {
    match spec.length {
        Length::Fixed(n) if value.len() != n => {
            return Err(format!("field {} ({}) must be {} characters, not {}", spec.number, spec.name, n, value.len()))
        }
        Length::LlVar(max) if value.len() > max => {
            return Err(format!(
                "field {} ({}) may be at most {} characters, not {}",
                spec.number,
                spec.name,
                max,
                value.len()
            ))
        }
        _ => {}
    }
    if let Some(bad) = value.iter().find(|b| !spec.charset.allows(**b)) {
        return Err(format!(
            "field {} ({}) is {} but holds byte 0x{bad:02X}",
            spec.number,
            spec.name,
            spec.charset.name()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_field_order_and_mac_is_last() {
        assert!(FIELDS.windows(2).all(|w| w[0].number < w[1].number));
        assert_eq!(FIELDS.last().map(|f| f.number), Some(MAC_FIELD));
        assert_eq!(spec(MAC_FIELD).map(|f| f.length), Some(Length::Fixed(MAC_LEN)));
    }

    #[test]
    fn values_are_checked_against_the_table() {
        let f4 = spec(4).unwrap();
        assert!(check(f4, b"000000078000").is_ok());
        assert!(check(f4, b"78000").unwrap_err().contains("12 characters"));
        assert!(check(spec(2).unwrap(), b"62220212345678901234").unwrap_err().contains("at most 19"));
        assert!(check(spec(37).unwrap(), b"00000000001 ").unwrap_err().contains("an"));
        assert!(check(spec(41).unwrap(), b"TERM 001").is_ok());
        assert!(check(spec(39).unwrap(), b"N1").is_ok());
    }
}
