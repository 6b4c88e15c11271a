//! Masking of identifiers in free text (anomaly details, search texts, log
//! lines): a person id keeps its first 6 and last 4 characters, an account
//! its last 4, a phone its first 3 and last 4 (reports.md "Masking").

use crate::domain::ids::{check_char, mask_account, mask_person_id, mask_phone};

/// Every identifier-like run of digits in `text`, masked.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || ((c == 'X' || c == 'x') && !run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn flush(run: &mut String, out: &mut String) {
    let digits = run.bytes().all(|b| b.is_ascii_digit());
    let masked = match run.len() {
        18 if looks_like_person_id(run) => mask_person_id(run),
        15 if digits => mask_person_id(run),
        16..=19 if digits => mask_account(run),
        11 if digits && run.starts_with('1') => mask_phone(run),
        _ => std::mem::take(run),
    };
    out.push_str(&masked);
    run.clear();
}

fn looks_like_person_id(s: &str) -> bool {
    let b = s.as_bytes();
    check_char(&b[..17]).is_some_and(|c| c == (b[17] as char).to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_in_text_are_masked_and_serials_kept() {
        assert_eq!(scrub("person 11010519491231002X paid"), "person 110105********002X paid");
        assert_eq!(scrub("acct 6222020200112233445 x"), "acct ***************3445 x");
        assert_eq!(scrub("tel 13800138000"), "tel 138****8000");
        assert_eq!(
            scrub("serial 2026112310500100000042 region 440703001001"),
            "serial 2026112310500100000042 region 440703001001"
        );
        assert_eq!(scrub("张三"), "张三");
    }
}
