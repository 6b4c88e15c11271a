//! The real-time bank channel of iso8583.md: ISO 8583:1987 messages over TCP.
//!
//! `fields` is the one field table the spec defines; `message` encodes and
//! decodes messages by that table and signs them (field 128); `codec` frames
//! them on the wire; `client` is the card centre's side, `server` the bank
//! simulator. The jobs that use the channel (`jobs::verify`, `jobs::relief`)
//! decide what the answers mean for cards and items.
//!
//! The codec is written here rather than taken from a crate: the crate
//! published as `iso8583` needs a nightly-only language feature, and
//! `iso8583_rs` brings old crypto crates and a global YAML specification.
//! The spec uses sixteen fields, ASCII only, with a MAC over the bytes as
//! sent; a table-driven codec of a few hundred lines that owns those bytes is
//! easier to check against the spec than either.

pub mod client;
pub mod codec;
pub mod fields;
pub mod key;
pub mod message;
pub mod server;

pub use key::SharedKey;
pub use message::{Message, ResponseCode};
