//! Framing (iso8583.md "Framing and encoding"): each message is preceded by a
//! 2-byte unsigned big-endian length of the message that follows. The frames
//! carry message bytes; `message` parses them (the MAC needs the bytes as sent).

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, FramedRead, FramedWrite, LengthDelimitedCodec};

/// The 2-byte big-endian length-prefix codec of the spec.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u16>()
        .big_endian()
        .length_adjustment(0)
        .max_frame_length(usize::from(u16::MAX))
        .new_codec()
}

pub fn framed<T: AsyncRead + AsyncWrite>(io: T) -> Framed<T, LengthDelimitedCodec> {
    Framed::new(io, codec())
}

pub fn reader<T: AsyncRead>(io: T) -> FramedRead<T, LengthDelimitedCodec> {
    FramedRead::new(io, codec())
}

pub fn writer<T: AsyncWrite>(io: T) -> FramedWrite<T, LengthDelimitedCodec> {
    FramedWrite::new(io, codec())
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use tokio_util::codec::{Decoder, Encoder};

    use super::*;

    #[test]
    fn frames_carry_a_two_byte_big_endian_length() {
        let mut c = codec();
        let mut buf = BytesMut::new();
        c.encode(Bytes::from_static(b"0800abc"), &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x00\x070800abc");
        // Split across reads: nothing until the frame is whole.
        let mut part = BytesMut::from(&b"\x00\x07080"[..]);
        assert!(c.decode(&mut part).unwrap().is_none());
        part.extend_from_slice(b"0abc\x00\x01Z");
        assert_eq!(&c.decode(&mut part).unwrap().unwrap()[..], b"0800abc");
        assert_eq!(&c.decode(&mut part).unwrap().unwrap()[..], b"Z");
        let mut big = BytesMut::new();
        assert!(c.encode(Bytes::from(vec![b'0'; 70_000]), &mut big).is_err());
    }
}
