//! The codec against the spec: hand-checked bytes, a round trip of every
//! message type of iso8583.md "Messages" over arbitrary valid field values,
//! and a decoder that never panics on arbitrary bytes.

use proptest::prelude::*;

use super::*;

fn key() -> SharedKey {
    SharedKey::from_bytes(*b"0123456789abcdef0123456789abcdef")
}

#[test]
fn an_echo_is_encoded_to_the_byte() {
    let m = Message::new(mti::ECHO).with(7, "1105093000").with(11, "000001").with(70, "301");
    let bytes = m.encode(Some(&key())).unwrap();
    // Bits 1 (secondary present), 7 and 11; bit 70 in the secondary bitmap; no MAC on 0800.
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), "0800822000000000000004000000000000001105093000000001301");
    assert_eq!(Message::decode(&bytes).unwrap(), m);
}

#[test]
fn a_credit_carries_its_mac_over_the_bytes_before_field_128() {
    let m = Message::new(mti::CREDIT)
        .with(2, "6222021234567890128")
        .with(3, PROC_CREDIT)
        .with(4, "000000078000")
        .with(11, "000042")
        .with(37, "105000000001")
        .with(102, "11010519491231002X");
    let bytes = m.encode(Some(&key())).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("0200"), "{text}");
    // Primary: bits 1, 2, 3, 4, 11, 37; secondary: bits 102 and 128.
    assert_eq!(&text[4..20], "F020000008000000");
    assert_eq!(&text[20..36], "0000000004000001");
    assert!(text[36..].starts_with("196222021234567890128280000000000078000000042105000000001"));
    let (mac_at, mac) = text.split_at(text.len() - 16);
    assert_eq!(mac, mac_of(&key(), mac_at.as_bytes()));
    let (decoded, check) = Message::decode_verified(&bytes, &key()).unwrap();
    assert_eq!(check, MacCheck::Valid);
    assert_eq!(decoded.get(128), Some(mac));
    assert_eq!(decoded.get(102), Some("11010519491231002X"));
}

#[test]
fn a_wrong_key_a_changed_byte_or_a_missing_mac_does_not_verify() {
    let m = Message::new(mti::VERIFY).with(2, "6222021234567890128").with(11, "000001");
    let bytes = m.encode(Some(&key())).unwrap();
    let other = SharedKey::from_bytes([9; 32]);
    assert_eq!(Message::decode_verified(&bytes, &other).unwrap().1, MacCheck::Invalid);
    // A digit of the account number (field 2, after MTI, bitmaps and its length).
    let mut changed = bytes.clone();
    changed[40] = if changed[40] == b'1' { b'2' } else { b'1' };
    assert_eq!(Message::decode_verified(&changed, &key()).unwrap().1, MacCheck::Invalid);
    let unsigned = m.encode(None).unwrap();
    assert_eq!(Message::decode_verified(&unsigned, &key()).unwrap().1, MacCheck::Missing);
    let mut lower = bytes.clone();
    let n = lower.len();
    lower[n - 16..].make_ascii_lowercase();
    if lower != bytes {
        assert_ne!(Message::decode_verified(&lower, &key()).map(|r| r.1), Ok(MacCheck::Valid));
    }
}

#[test]
fn decoding_errors_say_where() {
    assert!(matches!(Message::decode(b"02"), Err(DecodeError::Truncated { .. })));
    assert!(matches!(Message::decode(b"02X0F000000000000000"), Err(DecodeError::Mti(_))));
    assert!(matches!(Message::decode(b"0200G000000000000000"), Err(DecodeError::Bitmap { .. })));
    // Bit 5 is not in the table.
    assert_eq!(Message::decode(b"08000800000000000000"), Err(DecodeError::UnknownField(5)));
    assert_eq!(Message::decode(b"08000020000000000000000001").unwrap().get(11), Some("000001"));
    assert!(matches!(Message::decode(b"08000020000000000000000001X"), Err(DecodeError::Trailing(1))));
    assert!(Message::new("0200").with(5, "1").encode(None).is_err());
    assert!(Message::new("02000").encode(None).is_err());
}

#[test]
fn response_types_follow_their_requests() {
    assert_eq!(response_mti("0100").as_deref(), Some("0110"));
    assert_eq!(response_mti("0400").as_deref(), Some("0410"));
    assert_eq!(response_mti("0810"), None);
    assert_eq!(response_mti("08"), None);
    for c in ResponseCode::ALL {
        assert_eq!(ResponseCode::parse(c.as_str()), Some(c));
    }
}

// ---- property tests ----

fn digits(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, min..=max).prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
}

fn text(charset: &'static [u8], min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(charset), min..=max)
        .prop_map(|v| v.into_iter().map(char::from).collect())
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const PRINTABLE: &[u8] =
    b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn code() -> impl Strategy<Value = String> {
    proptest::sample::select(ResponseCode::ALL.to_vec()).prop_map(|c| c.as_str().to_string())
}

/// The fields common to the financial messages, as the spec's table lists them.
#[derive(Debug, Clone)]
struct Common {
    account: String,
    amount: String,
    f7: String,
    stan: String,
    f12: String,
    f13: String,
    agency: String,
    rrn: String,
    terminal: String,
    holder: String,
    code: String,
    f90: String,
}

fn common() -> impl Strategy<Value = Common> {
    (
        (digits(1, 19), digits(12, 12), digits(10, 10), digits(6, 6), digits(6, 6), digits(4, 4)),
        (digits(1, 11), text(ALNUM, 12, 12), text(PRINTABLE, 8, 8), text(PRINTABLE, 0, 28), code(), digits(42, 42)),
    )
        .prop_map(|((account, amount, f7, stan, f12, f13), (agency, rrn, terminal, holder, code, f90))| Common {
            account,
            amount,
            f7,
            stan,
            f12,
            f13,
            agency,
            rrn,
            terminal,
            holder,
            code,
            f90,
        })
}

/// Every message of iso8583.md "Messages", with its fields.
fn spec_message(kind: usize, c: &Common) -> Message {
    let request = |mti: &str, proc_code: &str| {
        Message::new(mti)
            .with(2, &c.account)
            .with(3, proc_code)
            .with(4, &c.amount)
            .with(7, &c.f7)
            .with(11, &c.stan)
            .with(12, &c.f12)
            .with(13, &c.f13)
            .with(32, &c.agency)
            .with(37, &c.rrn)
            .with(41, &c.terminal)
            .with(49, CURRENCY_CNY)
            .with(102, &c.holder)
    };
    let echo_of = |mti: &str, proc_code: &str, fields: &[u8]| {
        let r = request(mti, proc_code);
        let mut m = Message::new(mti);
        for &n in fields {
            if let Some(v) = r.get(n) {
                m.set(n, v);
            }
        }
        m.with(39, &c.code)
    };
    match kind {
        0 => request(mti::VERIFY, PROC_VERIFY).with(4, "000000000000"),
        1 => echo_of(mti::VERIFY_RESPONSE, PROC_VERIFY, &[2, 3, 4, 7, 11, 32, 37, 41]),
        2 => request(mti::CREDIT, PROC_CREDIT),
        3 => echo_of(mti::CREDIT_RESPONSE, PROC_CREDIT, &[2, 3, 4, 7, 11, 32, 37, 41, 49]),
        4 => {
            let mut m = echo_of(mti::REVERSAL, PROC_CREDIT, &[2, 3, 4, 7, 11, 32, 37, 41, 49]).with(90, &c.f90);
            m.remove(39);
            m
        }
        5 => echo_of(mti::REVERSAL_RESPONSE, PROC_CREDIT, &[2, 3, 4, 7, 11, 32, 37, 41, 49]).with(90, &c.f90),
        6 => Message::new(mti::ECHO).with(7, &c.f7).with(11, &c.stan).with(70, NET_ECHO),
        _ => Message::new(mti::ECHO_RESPONSE).with(7, &c.f7).with(11, &c.stan).with(39, &c.code).with(70, NET_ECHO),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Each of the eight messages, signed, decodes to itself plus a MAC that verifies.
    #[test]
    fn every_message_of_the_spec_round_trips(kind in 0usize..8, c in common()) {
        let m = spec_message(kind, &c);
        let bytes = m.encode(Some(&key())).unwrap();
        let (decoded, check) = Message::decode_verified(&bytes, &key()).unwrap();
        let mut without_mac = decoded.clone();
        let mac = without_mac.remove(128);
        prop_assert_eq!(&without_mac, &m);
        if carries_mac(&m.mti) {
            prop_assert_eq!(check, MacCheck::Valid);
            prop_assert_eq!(mac.map(|s| s.len()), Some(16));
        } else {
            prop_assert_eq!(check, MacCheck::NotRequired);
            prop_assert!(mac.is_none());
        }
        // Re-encoding what was decoded gives the same bytes.
        prop_assert_eq!(decoded.encode(Some(&key())).unwrap(), bytes);
    }

    /// A change to any byte of a signed message is either rejected by the
    /// decoder or fails the MAC (or is the unchanged message).
    #[test]
    fn a_changed_byte_never_verifies(kind in 0usize..6, c in common(), pos in any::<prop::sample::Index>(), b in any::<u8>()) {
        let bytes = spec_message(kind, &c).encode(Some(&key())).unwrap();
        let mut changed = bytes.clone();
        let i = pos.index(changed.len());
        changed[i] = b;
        if changed != bytes {
            if let Ok((_, check)) = Message::decode_verified(&changed, &key()) {
                prop_assert_ne!(check, MacCheck::Valid);
            }
        }
    }
}

/// How many arbitrary inputs the never-panic properties run (README quotes it).
pub const FUZZ_CASES: u32 = 100_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: FUZZ_CASES, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes: the decoder answers Ok or Err, never panics.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode_verified(&bytes, &key());
    }

    /// Arbitrary bytes behind a plausible header (an MTI and bitmaps with
    /// bits of the table), so that the field parsers are reached too.
    #[test]
    fn decoding_plausible_garbage_never_panics(
        mti in digits(4, 4),
        primary in any::<u64>(),
        secondary in any::<u64>(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Keep only bits of fields in the table (and bit 1), so that parsing goes past the bitmaps.
        let mask = |base: u8| {
            fields::FIELDS
                .iter()
                .filter(|f| f.number > base && f.number <= base + 64)
                .fold(0u64, |m, f| m | 1 << (63 - (f.number - base - 1)))
        };
        let primary = primary & (mask(0) | 1 << 63);
        let secondary = secondary & mask(64);
        let mut bytes = mti.into_bytes();
        bytes.extend_from_slice(format!("{primary:016X}{secondary:016X}").as_bytes());
        bytes.extend_from_slice(&tail);
        let _ = Message::decode_verified(&bytes, &key());
    }
}
