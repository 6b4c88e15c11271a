//! Layout ISO 20022 pain.001 and pain.002 (bank-files.md). Being written.
use super::*;
#[derive(Default)]
pub struct Pain001Writer;
impl RequestWriter for Pain001Writer {
    fn header(&mut self, _: &mut dyn Write, _: &BatchInfo) -> std::io::Result<()> { unimplemented!("pain.001 writer is being written") }
    fn detail(&mut self, _: &mut dyn Write, _: &PaymentDetail) -> std::io::Result<()> { unimplemented!() }
    fn finish(&mut self, _: &mut dyn Write, _: &BatchInfo) -> std::io::Result<()> { unimplemented!() }
}
pub fn read_return(_: &mut dyn BufRead, _: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>) -> Result<ReturnHeader, FormatError> { unimplemented!() }
pub fn read_request(_: &mut dyn BufRead, _: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>) -> Result<BatchInfo, FormatError> { unimplemented!() }
pub struct Pain002Writer;
impl Pain002Writer { pub fn new(_: Pain002Version) -> Self { Pain002Writer } }
impl ReturnWriter for Pain002Writer {
    fn header(&mut self, _: &mut dyn Write, _: &ReturnHeader) -> std::io::Result<()> { unimplemented!() }
    fn detail(&mut self, _: &mut dyn Write, _: &ReturnDetail) -> std::io::Result<()> { unimplemented!() }
    fn finish(&mut self, _: &mut dyn Write, _: &ReturnHeader) -> std::io::Result<()> { unimplemented!() }
}
