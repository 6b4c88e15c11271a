//! GBK text as the banks and many departments use it: encoding that refuses
//! characters outside GBK instead of mangling them, and cutting to a byte
//! width without splitting a double-byte character.

use encoding_rs::GBK;

/// The first character of `s` that GBK cannot encode, if any.
pub fn first_unencodable(s: &str) -> Option<char> {
    let mut buf = [0u8; 4];
    s.chars().find(|c| {
        let (_, _, had_errors) = GBK.encode(c.encode_utf8(&mut buf));
        had_errors
    })
}

/// Encodes `s` in GBK, or names the first character GBK cannot encode.
pub fn encode(s: &str) -> Result<Vec<u8>, char> {
    let (bytes, _, had_errors) = GBK.encode(s);
    if had_errors {
        return Err(first_unencodable(s).unwrap_or('\u{FFFD}'));
    }
    Ok(bytes.into_owned())
}

/// Encodes `s` and cuts it to at most `max_bytes`, at a character boundary.
/// Characters GBK cannot encode are an error, never replaced.
pub fn encode_truncated(s: &str, max_bytes: usize) -> Result<Vec<u8>, char> {
    let mut out = Vec::with_capacity(max_bytes);
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let (bytes, _, had_errors) = GBK.encode(c.encode_utf8(&mut buf));
        if had_errors {
            return Err(c);
        }
        if out.len() + bytes.len() > max_bytes {
            break;
        }
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Encodes `s` cut to `width` bytes and padded with spaces to exactly `width`
/// (left-aligned text field of FIX-B).
pub fn fixed_text(s: &str, width: usize) -> Result<Vec<u8>, char> {
    let mut out = encode_truncated(s, width)?;
    out.resize(width, b' ');
    Ok(out)
}

/// Decodes GBK bytes strictly: `None` if they are not valid GBK.
pub fn decode(bytes: &[u8]) -> Option<String> {
    let (text, had_errors) = GBK.decode_without_bom_handling(bytes);
    (!had_errors).then(|| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_chinese_in_two_bytes() {
        assert_eq!(encode("陈秀英").unwrap().len(), 6);
        assert_eq!(decode(&encode("陈秀英·A").unwrap()).unwrap(), "陈秀英·A");
    }

    #[test]
    fn refuses_characters_outside_gbk() {
        assert_eq!(first_unencodable("王𠮷"), Some('𠮷'));
        assert_eq!(encode("王𠮷"), Err('𠮷'));
        assert_eq!(first_unencodable("王小明"), None);
    }

    #[test]
    fn truncates_at_character_boundaries() {
        // 5 bytes available: two Chinese characters (4 bytes) fit, the third does not.
        assert_eq!(encode_truncated("陈秀英", 5).unwrap().len(), 4);
        assert_eq!(fixed_text("陈秀英", 5).unwrap(), [encode("陈秀").unwrap(), vec![b' ']].concat());
        assert_eq!(fixed_text("ab", 4).unwrap(), b"ab  ");
    }
}
