//! The shared key of each bank (iso8583.md): 32 random bytes, configured as
//! 64 hexadecimal characters, never in a committed file. It comes from the
//! environment variable `ONECARD_ISO_KEY_<BANK>` (e.g. `ONECARD_ISO_KEY_105`)
//! or from the key file named by `ONECARD_ISO_KEY_FILE`, one `BANK = HEX` a line.

use std::fmt;
use std::path::Path;

#[derive(Clone, PartialEq, Eq)]
pub struct SharedKey([u8; 32]);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{source_name}: the shared key must be 64 hexadecimal characters (32 bytes), got {len} characters")]
    Length { source_name: String, len: usize },
    #[error("{source_name}: the shared key is not hexadecimal")]
    NotHex { source_name: String },
    #[error(
        "no shared key for bank {bank}: set ONECARD_ISO_KEY_{bank} to 64 hex characters, \
         or ONECARD_ISO_KEY_FILE to a file outside the repository with a line '{bank} = <64 hex>'"
    )]
    Missing { bank: String },
    #[error("key file {path}: {message}")]
    File { path: String, message: String },
}

impl SharedKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SharedKey {
        SharedKey(bytes)
    }

    /// Parses 64 hexadecimal characters; `source_name` says where they came from.
    pub fn parse_hex(text: &str, source_name: &str) -> Result<SharedKey, KeyError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(KeyError::Length { source_name: source_name.into(), len: text.chars().count() });
        }
        let bytes = hex::decode(text).map_err(|_| KeyError::NotHex { source_name: source_name.into() })?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(SharedKey(key))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key of `bank`: the environment first, then the key file.
    pub fn load(bank: &str) -> Result<SharedKey, KeyError> {
        let var = format!("ONECARD_ISO_KEY_{bank}");
        if let Ok(v) = std::env::var(&var) {
            return SharedKey::parse_hex(&v, &var);
        }
        if let Ok(path) = std::env::var("ONECARD_ISO_KEY_FILE") {
            return SharedKey::from_file(Path::new(&path), bank);
        }
        Err(KeyError::Missing { bank: bank.into() })
    }

    /// The key of `bank` in a key file of `BANK = HEX` lines (`#` comments).
    pub fn from_file(path: &Path, bank: &str) -> Result<SharedKey, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::File { path: shown.clone(), message: e.to_string() })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(KeyError::File { path: shown, message: format!("line {}: expected BANK = HEX", i + 1) });
            };
            if name.trim() == bank {
                let value = value.trim().trim_matches('"');
                return SharedKey::parse_hex(value, &format!("{shown} line {}", i + 1));
            }
        }
        Err(KeyError::Missing { bank: bank.into() })
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_64_hex_characters_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let hex = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
        std::fs::write(&path, format!("# bank keys\n102 = \"{hex}\"\n105={}\n", &hex[..10])).unwrap();
        assert_eq!(SharedKey::from_file(&path, "102").unwrap().bytes()[1], 0x11);
        assert!(SharedKey::from_file(&path, "105").unwrap_err().to_string().contains("64 hexadecimal"));
        assert!(matches!(SharedKey::from_file(&path, "104"), Err(KeyError::Missing { .. })));
        assert_eq!(format!("{:?}", SharedKey::from_bytes([7; 32])), "SharedKey(…)");
    }
}
