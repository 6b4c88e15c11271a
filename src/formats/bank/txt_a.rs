//! Layout TXT-A: `|`-delimited GBK text (bank-files.md). Being written.
use super::*;
pub struct TxtAWriter;
impl RequestWriter for TxtAWriter {
    fn header(&mut self, _: &mut dyn Write, _: &BatchInfo) -> std::io::Result<()> { unimplemented!("TXT-A writer is being written") }
    fn detail(&mut self, _: &mut dyn Write, _: &PaymentDetail) -> std::io::Result<()> { unimplemented!() }
    fn finish(&mut self, _: &mut dyn Write, _: &BatchInfo) -> std::io::Result<()> { unimplemented!() }
}
pub fn read_return(_: &mut dyn BufRead, _: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>) -> Result<ReturnHeader, FormatError> { unimplemented!() }
pub fn read_request(_: &mut dyn BufRead, _: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>) -> Result<BatchInfo, FormatError> { unimplemented!() }
pub struct TxtAReturnWriter;
impl ReturnWriter for TxtAReturnWriter {
    fn header(&mut self, _: &mut dyn Write, _: &ReturnHeader) -> std::io::Result<()> { unimplemented!() }
    fn detail(&mut self, _: &mut dyn Write, _: &ReturnDetail) -> std::io::Result<()> { unimplemented!() }
    fn finish(&mut self, _: &mut dyn Write, _: &ReturnHeader) -> std::io::Result<()> { unimplemented!() }
}
