//! One ISO 8583 message: its MTI and fields, encoded and decoded by the field
//! table (`fields`), and signed with the MAC of field 128 (iso8583.md
//! "Framing and encoding"). Decoding never panics: any byte string is either
//! a message or a [`DecodeError`] saying where it went wrong.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::fields::{self, Length, MAC_FIELD, MAC_LEN};
use super::key::SharedKey;

/// The message types of the spec.
pub mod mti {
    pub const VERIFY: &str = "0100";
    pub const VERIFY_RESPONSE: &str = "0110";
    pub const CREDIT: &str = "0200";
    pub const CREDIT_RESPONSE: &str = "0210";
    pub const REVERSAL: &str = "0400";
    pub const REVERSAL_RESPONSE: &str = "0410";
    pub const ECHO: &str = "0800";
    pub const ECHO_RESPONSE: &str = "0810";
}

/// Processing codes (field 3).
pub const PROC_VERIFY: &str = "330000";
pub const PROC_CREDIT: &str = "280000";
/// Currency (field 49): CNY.
pub const CURRENCY_CNY: &str = "156";
/// Network management code (field 70): echo.
pub const NET_ECHO: &str = "301";

/// The response codes of field 39.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    Approved,
    InvalidTransaction,
    NoSuchAccount,
    OriginalNotFound,
    CardLost,
    AccountClosed,
    AccountFrozen,
    HolderMismatch,
    Duplicate,
    SystemError,
    MacFailure,
}

impl ResponseCode {
    pub const ALL: [ResponseCode; 11] = [
        ResponseCode::Approved,
        ResponseCode::InvalidTransaction,
        ResponseCode::NoSuchAccount,
        ResponseCode::OriginalNotFound,
        ResponseCode::CardLost,
        ResponseCode::AccountClosed,
        ResponseCode::AccountFrozen,
        ResponseCode::HolderMismatch,
        ResponseCode::Duplicate,
        ResponseCode::SystemError,
        ResponseCode::MacFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseCode::Approved => "00",
            ResponseCode::InvalidTransaction => "12",
            ResponseCode::NoSuchAccount => "14",
            ResponseCode::OriginalNotFound => "25",
            ResponseCode::CardLost => "41",
            ResponseCode::AccountClosed => "54",
            ResponseCode::AccountFrozen => "62",
            ResponseCode::HolderMismatch => "N1",
            ResponseCode::Duplicate => "94",
            ResponseCode::SystemError => "96",
            ResponseCode::MacFailure => "A0",
        }
    }

    pub fn parse(code: &str) -> Option<ResponseCode> {
        ResponseCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// What the code means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            ResponseCode::Approved => "approved",
            ResponseCode::InvalidTransaction => "invalid transaction",
            ResponseCode::NoSuchAccount => "no such account",
            ResponseCode::OriginalNotFound => "original not found",
            ResponseCode::CardLost => "card reported lost",
            ResponseCode::AccountClosed => "account closed",
            ResponseCode::AccountFrozen => "account frozen",
            ResponseCode::HolderMismatch => "holder id does not match the account",
            ResponseCode::Duplicate => "duplicate transmission",
            ResponseCode::SystemError => "system error",
            ResponseCode::MacFailure => "MAC failure",
        }
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.as_str(), self.describe())
    }
}

/// A message: MTI and field values (ASCII text as on the wire, without
/// length prefixes). Field 128 is added by [`Message::encode`] when signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub mti: String,
    fields: BTreeMap<u8, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("MTI '{0}' is not 4 digits")]
    Mti(String),
    #[error("field {0} is not in the field table of iso8583.md")]
    UnknownField(u8),
    #[error("{0}")]
    Field(String),
    #[error("message of {0} bytes does not fit the 2-byte length prefix")]
    TooLong(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message ends at byte {at} inside {what}")]
    Truncated { at: usize, what: String },
    #[error("MTI {0:?} is not 4 digits")]
    Mti(String),
    #[error("{which} bitmap {text:?} is not 16 hexadecimal characters")]
    Bitmap { which: &'static str, text: String },
    #[error("bit {0} is set but field {0} is not in the field table")]
    UnknownField(u8),
    #[error("field {field}: length prefix {text:?} is not 2 digits")]
    LengthPrefix { field: u8, text: String },
    #[error("{0}")]
    Field(String),
    #[error("{0} bytes follow the last field")]
    Trailing(usize),
}

/// Whether field 128 of a received message verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCheck {
    Valid,
    Invalid,
    /// The message should carry a MAC and does not.
    Missing,
    /// 0800/0810: no MAC is carried.
    NotRequired,
}

/// Does a message of this type carry field 128? Every one but 0800/0810.
pub fn carries_mac(mti: &str) -> bool {
    !mti.starts_with("08")
}

/// The response MTI of a request MTI (`0200` → `0210`), if it is a request.
pub fn response_mti(request: &str) -> Option<String> {
    let b = request.as_bytes();
    if b.len() != 4 || !b.iter().all(u8::is_ascii_digit) || (b[2] - b'0') % 2 != 0 {
        return None;
    }
    let mut s = request.to_string();
    s.replace_range(2..3, &((b[2] - b'0') + 1).to_string());
    Some(s)
}

impl Message {
    pub fn new(mti: &str) -> Message {
        Message { mti: mti.to_string(), fields: BTreeMap::new() }
    }

    /// Sets field `n` (builder style).
    pub fn with(mut self, n: u8, value: impl Into<String>) -> Message {
        self.fields.insert(n, value.into());
        self
    }

    pub fn set(&mut self, n: u8, value: impl Into<String>) {
        self.fields.insert(n, value.into());
    }

    pub fn remove(&mut self, n: u8) -> Option<String> {
        self.fields.remove(&n)
    }

    pub fn get(&self, n: u8) -> Option<&str> {
        self.fields.get(&n).map(String::as_str)
    }

    /// The field numbers present, in order.
    pub fn numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.fields.keys().copied()
    }

    /// Field 39 as a known code.
    pub fn response_code(&self) -> Option<ResponseCode> {
        self.get(39).and_then(ResponseCode::parse)
    }

    pub fn is_request(&self) -> bool {
        response_mti(&self.mti).is_some()
    }

    /// The bytes as sent (without the 2-byte length prefix). With a key, and
    /// for every type but 0800/0810, bit 128 is set and field 128 is the MAC
    /// over the bytes before it; a field 128 already in the message is replaced.
    pub fn encode(&self, key: Option<&SharedKey>) -> Result<Vec<u8>, EncodeError> {
        let mti = self.mti.as_bytes();
        if mti.len() != 4 || !mti.iter().all(u8::is_ascii_digit) {
            return Err(EncodeError::Mti(self.mti.clone()));
        }
        let sign = key.filter(|_| carries_mac(&self.mti));
        let mut bits = [0u64; 2];
        let mut set_bit = |n: u8| bits[usize::from((n - 1) / 64)] |= 1u64 << (63 - (n - 1) % 64);
        for &n in self.fields.keys() {
            if fields::spec(n).is_none() {
                return Err(EncodeError::UnknownField(n));
            }
            set_bit(n);
        }
        if sign.is_some() {
            set_bit(MAC_FIELD);
        }
        let secondary = bits[1] != 0;
        if secondary {
            bits[0] |= 1u64 << 63;
        }
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(mti);
        out.extend_from_slice(format!("{:016X}", bits[0]).as_bytes());
        if secondary {
            out.extend_from_slice(format!("{:016X}", bits[1]).as_bytes());
        }
        for (&n, value) in &self.fields {
            if n == MAC_FIELD && sign.is_some() {
                continue;
            }
            let spec = fields::spec(n).ok_or(EncodeError::UnknownField(n))?;
            fields::check(spec, value.as_bytes()).map_err(EncodeError::Field)?;
            if let Length::LlVar(_) = spec.length {
                out.extend_from_slice(format!("{:02}", value.len()).as_bytes());
            }
            out.extend_from_slice(value.as_bytes());
        }
        if let Some(key) = sign {
            let mac = mac_of(key, &out);
            out.extend_from_slice(mac.as_bytes());
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(EncodeError::TooLong(out.len()));
        }
        Ok(out)
    }

    /// Parses the bytes of one message (without the length prefix).
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut at = 0usize;
        let take = |at: &mut usize, n: usize, what: &dyn Fn() -> String| -> Result<&[u8], DecodeError> {
            let end = at.checked_add(n).filter(|&e| e <= bytes.len());
            match end {
                Some(end) => {
                    let s = &bytes[*at..end];
                    *at = end;
                    Ok(s)
                }
                None => Err(DecodeError::Truncated { at: bytes.len(), what: what() }),
            }
        };
        let mti = take(&mut at, 4, &|| "the MTI".into())?;
        if !mti.iter().all(u8::is_ascii_digit) {
            return Err(DecodeError::Mti(String::from_utf8_lossy(mti).into_owned()));
        }
        let mti = String::from_utf8_lossy(mti).into_owned();
        let primary = bitmap(take(&mut at, 16, &|| "the primary bitmap".into())?, "primary")?;
        let secondary = if primary & (1u64 << 63) != 0 {
            bitmap(take(&mut at, 16, &|| "the secondary bitmap".into())?, "secondary")?
        } else {
            0
        };
        let mut fields = BTreeMap::new();
        for n in 2u8..=128 {
            let word = if n <= 64 { primary } else { secondary };
            if word & (1u64 << (63 - (n - 1) % 64)) == 0 {
                continue;
            }
            let spec = fields::spec(n).ok_or(DecodeError::UnknownField(n))?;
            let len = match spec.length {
                Length::Fixed(len) => len,
                Length::LlVar(_) => {
                    let prefix = take(&mut at, 2, &|| format!("the length of field {n}"))?;
                    if !prefix.iter().all(u8::is_ascii_digit) {
                        return Err(DecodeError::LengthPrefix {
                            field: n,
                            text: String::from_utf8_lossy(prefix).into_owned(),
                        });
                    }
                    usize::from(prefix[0] - b'0') * 10 + usize::from(prefix[1] - b'0')
                }
            };
            let value = take(&mut at, len, &|| format!("field {n} ({})", spec.name))?;
            fields::check(spec, value).map_err(DecodeError::Field)?;
            // `check` admitted only printable ASCII: valid UTF-8.
            fields.insert(n, String::from_utf8_lossy(value).into_owned());
        }
        if at != bytes.len() {
            return Err(DecodeError::Trailing(bytes.len() - at));
        }
        Ok(Message { mti, fields })
    }

    /// Decodes and checks field 128 against `key`.
    pub fn decode_verified(bytes: &[u8], key: &SharedKey) -> Result<(Message, MacCheck), DecodeError> {
        let message = Message::decode(bytes)?;
        let check = match message.get(MAC_FIELD) {
            // Field 128 is fixed-length and the last field: the MAC covers what precedes it.
            Some(mac) => {
                let signed = &bytes[..bytes.len() - MAC_LEN];
                if verify_mac(key, signed, mac) {
                    MacCheck::Valid
                } else {
                    MacCheck::Invalid
                }
            }
            None if carries_mac(&message.mti) => MacCheck::Missing,
            None => MacCheck::NotRequired,
        };
        Ok((message, check))
    }
}

fn bitmap(text: &[u8], which: &'static str) -> Result<u64, DecodeError> {
    let bad = || DecodeError::Bitmap { which, text: String::from_utf8_lossy(text).into_owned() };
    if !text.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let s = std::str::from_utf8(text).map_err(|_| bad())?;
    u64::from_str_radix(s, 16).map_err(|_| bad())
}

fn hmac(key: &SharedKey) -> Hmac<Sha256> {
    // HMAC takes a key of any length (longer ones are hashed): this cannot fail.
    Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC accepts any key length")
}

/// The MAC of field 128: the first 16 upper-case hex characters of
/// HMAC-SHA256 over `signed`.
pub fn mac_of(key: &SharedKey, signed: &[u8]) -> String {
    let mut m = hmac(key);
    m.update(signed);
    let tag = m.finalize().into_bytes();
    hex::encode_upper(&tag[..MAC_LEN / 2])
}

/// Constant-time check of a received MAC; lower-case hex is not the spec's MAC.
fn verify_mac(key: &SharedKey, signed: &[u8], mac: &str) -> bool {
    if !mac.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)) {
        return false;
    }
    let Ok(tag) = hex::decode(mac) else { return false };
    let mut m = hmac(key);
    m.update(signed);
    m.verify_truncated_left(&tag).is_ok()
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
