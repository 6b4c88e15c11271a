//! A streaming cursor over one XML document for the ISO 20022 readers: it
//! yields element openings and closings with the element's path of local names
//! (prefixes ignored), its text and the 1-based line it starts on. Memory is
//! bounded by the nesting depth and the largest single element, not the file.

use std::io::{self, BufRead, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

use super::super::FormatError;

macro_rules! tags {
    ($($name:ident),* $(,)?) => {
        /// The local names the readers look at; every other element is `Other`.
        /// Variants are spelled exactly as the XML elements (`IBAN` included).
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Tag {
            $($name,)*
            Other,
        }

        impl Tag {
            /// One `match` (a decision on length and bytes), not a comparison per name.
            fn from_local(name: &[u8]) -> Tag {
                match std::str::from_utf8(name) {
                    $(Ok(stringify!($name)) => Tag::$name,)*
                    _ => Tag::Other,
                }
            }
        }
    };
}

tags!(
    Document,
    CstmrCdtTrfInitn,
    CstmrPmtStsRpt,
    GrpHdr,
    MsgId,
    CreDtTm,
    NbOfTxs,
    CtrlSum,
    InitgPty,
    PmtInf,
    PmtMtd,
    ReqdExctnDt,
    Dt,
    DtTm,
    Dbtr,
    DbtrAcct,
    DbtrAgt,
    CdtTrfTxInf,
    PmtId,
    EndToEndId,
    Amt,
    InstdAmt,
    CdtrAgt,
    Cdtr,
    CdtrAcct,
    RmtInf,
    Ustrd,
    Nm,
    Id,
    OrgId,
    PrvtId,
    Othr,
    IBAN,
    Pty,
    FinInstnId,
    ClrSysMmbId,
    MmbId,
    OrgnlGrpInfAndSts,
    OrgnlMsgId,
    GrpSts,
    OrgnlPmtInfAndSts,
    PmtInfSts,
    TxInfAndSts,
    StsId,
    OrgnlEndToEndId,
    TxSts,
    StsRsnInf,
    Rsn,
    Cd,
    Prtry,
    AddtlInf,
    AcctSvcrRef,
    OrgnlTxRef,
);

/// Counts the line breaks of everything the XML parser consumes, so the
/// parser's position is always known as a line number.
struct LineCounter<'a> {
    inner: &'a mut dyn BufRead,
    newlines: u64,
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Read for LineCounter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += count_newlines(&buf[..n]);
        Ok(n)
    }
}

impl BufRead for LineCounter<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // The caller consumes bytes it was just handed by `fill_buf`; asking
        // again returns the same still-buffered bytes without reading.
        if let Ok(buffered) = self.inner.fill_buf() {
            self.newlines += count_newlines(&buffered[..amt.min(buffered.len())]);
        }
        self.inner.consume(amt);
    }
}

fn malformed(reader: &Reader<LineCounter<'_>>, message: impl std::fmt::Display) -> FormatError {
    FormatError::line(1 + reader.get_ref().newlines, format!("malformed XML: {message}"))
}

/// What the cursor saw: an element opened or closed. In both cases
/// [`XmlCursor::path`] includes the element; `line` is where the element starts.
pub(super) enum Node {
    Open { line: u64 },
    Close { line: u64 },
}

pub(super) struct XmlCursor<'a> {
    reader: Reader<LineCounter<'a>>,
    buf: Vec<u8>,
    tags: Vec<Tag>,
    lines: Vec<u64>,
    pop_pending: bool,
    text: String,
    root_seen: bool,
    /// The namespace bound to the document element's prefix.
    namespace: Option<String>,
    /// The `Ccy` attribute of the last `InstdAmt` opened.
    currency: Option<String>,
}

impl<'a> XmlCursor<'a> {
    pub(super) fn new(input: &'a mut dyn BufRead) -> XmlCursor<'a> {
        let mut reader = Reader::from_reader(LineCounter { inner: input, newlines: 0 });
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        XmlCursor {
            reader,
            buf: Vec::with_capacity(1024),
            tags: Vec::with_capacity(16),
            lines: Vec::with_capacity(16),
            pop_pending: false,
            text: String::new(),
            root_seen: false,
            namespace: None,
            currency: None,
        }
    }

    /// The line the parser is on now (where an error was detected).
    pub(super) fn line(&self) -> u64 {
        1 + self.reader.get_ref().newlines
    }

    /// Local names from the document element down to the current element.
    pub(super) fn path(&self) -> &[Tag] {
        &self.tags
    }

    /// The trimmed text of the element just closed (meaningful for leaves).
    pub(super) fn text(&self) -> &str {
        self.text.trim()
    }

    pub(super) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub(super) fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    fn error(&self, message: impl std::fmt::Display) -> FormatError {
        malformed(&self.reader, message)
    }

    /// The next element boundary, or `None` at the end of a complete document.
    pub(super) fn next(&mut self) -> Result<Option<Node>, FormatError> {
        if self.pop_pending {
            self.tags.pop();
            self.lines.pop();
            self.pop_pending = false;
        }
        loop {
            let line = self.line();
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(e)) => {
                    return Err(FormatError::Io(io::Error::new(e.kind(), e.to_string())));
                }
                Err(e) => return Err(self.error(e)),
            };
            match event {
                Event::Start(start) => {
                    if self.tags.is_empty() {
                        if self.root_seen {
                            return Err(malformed(&self.reader, "a second document element"));
                        }
                        self.root_seen = true;
                        let prefix = start.name().prefix().map(|p| p.as_ref().to_vec());
                        for attr in start.attributes() {
                            let attr = attr.map_err(|e| malformed(&self.reader, e))?;
                            let binds_root = match attr.key.as_namespace_binding() {
                                Some(quick_xml::name::PrefixDeclaration::Default) => prefix.is_none(),
                                Some(quick_xml::name::PrefixDeclaration::Named(p)) => prefix.as_deref() == Some(p),
                                None => false,
                            };
                            if binds_root {
                                let value = attr.unescape_value().map_err(|e| malformed(&self.reader, e))?;
                                self.namespace = Some(value.into_owned());
                            }
                        }
                    }
                    let tag = Tag::from_local(start.local_name().as_ref());
                    if tag == Tag::InstdAmt {
                        self.currency = None;
                        for attr in start.attributes() {
                            let attr = attr.map_err(|e| malformed(&self.reader, e))?;
                            if attr.key.local_name().as_ref() == b"Ccy" {
                                let value = attr.unescape_value().map_err(|e| malformed(&self.reader, e))?;
                                self.currency = Some(value.into_owned());
                            }
                        }
                    }
                    self.tags.push(tag);
                    self.lines.push(line);
                    self.text.clear();
                    return Ok(Some(Node::Open { line }));
                }
                Event::End(_) => {
                    // check_end_names guarantees a matching open element.
                    let Some(&line) = self.lines.last() else {
                        return Err(malformed(&self.reader, "a closing tag without an opening tag"));
                    };
                    self.pop_pending = true;
                    return Ok(Some(Node::Close { line }));
                }
                // Indentation between elements is most of a file's text and
                // never part of a value (values are trimmed): skip it cheaply.
                Event::Text(text) if text.iter().all(u8::is_ascii_whitespace) => {}
                Event::Text(text) => {
                    if self.tags.is_empty() {
                        return Err(malformed(&self.reader, "text outside the document element"));
                    }
                    let text = text.unescape().map_err(|e| malformed(&self.reader, e))?;
                    self.text.push_str(&text);
                }
                Event::CData(data) => {
                    let data = data.decode().map_err(|e| malformed(&self.reader, e))?;
                    self.text.push_str(&data);
                }
                Event::Decl(decl) => {
                    if let Some(encoding) = decl.encoding() {
                        let encoding = encoding.map_err(|e| malformed(&self.reader, e))?;
                        if !encoding.eq_ignore_ascii_case(b"UTF-8") {
                            let name = String::from_utf8_lossy(&encoding).into_owned();
                            return Err(malformed(&self.reader, format!("encoding {name} is not UTF-8")));
                        }
                    }
                }
                Event::Eof => {
                    if let (Some(tag), Some(opened)) = (self.tags.last(), self.lines.last()) {
                        let name = if *tag == Tag::Other { "an element".to_string() } else { format!("<{tag:?}>") };
                        let msg = format!("the file ends inside {name} opened on line {opened}");
                        return Err(malformed(&self.reader, msg));
                    }
                    if !self.root_seen {
                        return Err(malformed(&self.reader, "no document element"));
                    }
                    return Ok(None);
                }
                Event::Empty(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }
}
