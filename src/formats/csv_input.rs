//! Department CSV files (rosters.md "Common rules"): encoding detection
//! (UTF-8 with or without BOM, else GBK), header matching with aliases, and
//! the rejects file. Files are streamed: one pass hashes the bytes and checks
//! UTF-8, a second decodes and parses.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use encoding_rs_io::DecodeReaderBytesBuilder;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EncodingChoice {
    /// UTF-8 if the whole file is valid UTF-8, else GBK.
    #[default]
    Auto,
    #[value(name = "utf-8")]
    Utf8,
    Gbk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gbk,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Gbk => "gbk",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not valid UTF-8 at byte {offset} (use --encoding gbk, or leave the encoding to be detected)")]
    NotUtf8 { path: String, offset: u64 },
    #[error("{path}: missing required column {column} (also accepted: {aliases})")]
    MissingColumn { path: String, column: &'static str, aliases: String },
    #[error("{path}: column {column} appears twice in the header")]
    DuplicateColumn { path: String, column: &'static str },
    #[error("{path}: line {line}: {message}")]
    Csv { path: String, line: u64, message: String },
    #[error("{path}: the file is empty (no header row)")]
    Empty { path: String },
}

/// A column the importer knows, with its Chinese aliases.
pub struct ColumnSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

/// What one pass over the bytes found: their digest and encoding.
#[derive(Debug, Clone)]
pub struct Scan {
    pub sha256: String,
    pub encoding: Encoding,
    pub bytes: u64,
}

/// Hashes the file and decides its encoding in one streaming pass.
pub fn scan(path: &Path, choice: EncodingChoice) -> Result<Scan, InputError> {
    let shown = path.display().to_string();
    let io = |source| InputError::Io { path: shown.clone(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::with_capacity(4);
    let mut offset: u64 = 0;
    let mut first_invalid: Option<u64> = None;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if first_invalid.is_none() {
            // The chunk starts where the carried bytes of an incomplete character began.
            let start = offset - carry.len() as u64;
            let chunk: Vec<u8> = carry.drain(..).chain(buf[..n].iter().copied()).collect();
            match std::str::from_utf8(&chunk) {
                Ok(_) => {}
                Err(e) if e.error_len().is_none() => carry.extend_from_slice(&chunk[e.valid_up_to()..]),
                Err(e) => first_invalid = Some(start + e.valid_up_to() as u64),
            }
        }
        offset += n as u64;
    }
    if first_invalid.is_none() && !carry.is_empty() {
        first_invalid = Some(offset - carry.len() as u64);
    }
    let encoding = match (choice, first_invalid) {
        (EncodingChoice::Gbk, _) => Encoding::Gbk,
        (EncodingChoice::Utf8, Some(at)) => return Err(InputError::NotUtf8 { path: shown, offset: at }),
        (_, None) => Encoding::Utf8,
        (EncodingChoice::Auto, Some(_)) => Encoding::Gbk,
    };
    Ok(Scan { sha256: hex::encode(hasher.finalize()), encoding, bytes: offset })
}

/// A CSV file being read row by row, its columns matched to a spec.
pub struct CsvInput {
    path: String,
    reader: csv::Reader<Box<dyn Read>>,
    /// For each column of the spec, its index in the file, if present.
    columns: Vec<Option<usize>>,
    headers: csv::StringRecord,
}

impl CsvInput {
    pub fn open(path: &Path, encoding: Encoding, spec: &[ColumnSpec]) -> Result<CsvInput, InputError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|source| InputError::Io { path: shown.clone(), source })?;
        let decoded: Box<dyn Read> = match encoding {
            Encoding::Utf8 => Box::new(DecodeReaderBytesBuilder::new().strip_bom(true).build(BufReader::new(file))),
            Encoding::Gbk => Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(encoding_rs::GBK))
                    .bom_sniffing(false)
                    .build(BufReader::new(file)),
            ),
        };
        let decoded: Box<dyn Read> = Box::new(CrlfToLf { inner: decoded, pending_cr: false });
        let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(decoded);
        let headers = reader
            .headers()
            .map_err(|e| InputError::Csv { path: shown.clone(), line: 1, message: e.to_string() })?
            .clone();
        if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
            return Err(InputError::Empty { path: shown });
        }
        let normal: Vec<String> =
            headers.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase()).collect();
        let mut columns = Vec::with_capacity(spec.len());
        for col in spec {
            let mut found =
                normal.iter().enumerate().filter(|(_, h)| *h == col.name || col.aliases.contains(&h.as_str()));
            let index = found.next().map(|(i, _)| i);
            if found.next().is_some() {
                return Err(InputError::DuplicateColumn { path: shown, column: col.name });
            }
            if index.is_none() && col.required {
                return Err(InputError::MissingColumn {
                    path: shown,
                    column: col.name,
                    aliases: col.aliases.join(" / "),
                });
            }
            columns.push(index);
        }
        Ok(CsvInput { path: shown, reader, columns, headers })
    }

    pub fn headers(&self) -> &csv::StringRecord {
        &self.headers
    }

    /// Reads the next row into `record`; `false` at the end of the file.
    pub fn next_row(&mut self, record: &mut csv::StringRecord) -> Result<bool, InputError> {
        self.reader.read_record(record).map_err(|e| InputError::Csv {
            path: self.path.clone(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })
    }

    /// The value of spec column `col` in `record` ("" when the column is absent or the row short).
    pub fn field<'r>(&self, record: &'r csv::StringRecord, col: usize) -> &'r str {
        self.columns[col].and_then(|i| record.get(i)).unwrap_or("")
    }

    /// Whether the row has as many fields as the header.
    pub fn well_formed(&self, record: &csv::StringRecord) -> Result<(), String> {
        if record.len() == self.headers.len() {
            Ok(())
        } else {
            Err(format!("row has {} fields, the header has {}", record.len(), self.headers.len()))
        }
    }
}

/// Turns CRLF into LF as it reads. The csv parser numbers the lines of a
/// CRLF file one short; with LF only, a record's line is its line in the file.
struct CrlfToLf<R: Read> {
    inner: R,
    /// A CR ended the previous read: it is dropped if the next byte is LF.
    pending_cr: bool,
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let start = usize::from(self.pending_cr);
            if self.pending_cr {
                buf[0] = b'\r';
            }
            let n = self.inner.read(&mut buf[start..])?;
            if n == 0 {
                self.pending_cr = false;
                return Ok(start);
            }
            let filled = start + n;
            let mut out = 0;
            let mut i = 0;
            self.pending_cr = false;
            while i < filled {
                let b = buf[i];
                if b == b'\r' {
                    if i + 1 == filled {
                        self.pending_cr = true;
                        break;
                    }
                    if buf[i + 1] == b'\n' {
                        i += 1;
                        continue;
                    }
                }
                buf[out] = b;
                out += 1;
                i += 1;
            }
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

/// The 1-based line a record starts on.
pub fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

/// `<input>.rejects.csv`: each rejected row as it was, its line number and
/// its reasons. Written to a temporary name and renamed when complete.
pub struct RejectsWriter {
    path: PathBuf,
    tmp: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    count: u64,
}

impl RejectsWriter {
    pub fn rejects_path(input: &Path) -> PathBuf {
        let mut name = input.file_name().unwrap_or_default().to_os_string();
        name.push(".rejects.csv");
        input.with_file_name(name)
    }

    pub fn create(input: &Path, headers: &csv::StringRecord) -> std::io::Result<RejectsWriter> {
        let path = RejectsWriter::rejects_path(input);
        let tmp = path.with_extension("csv.tmp");
        let mut file = BufWriter::new(File::create(&tmp)?);
        file.write_all("\u{feff}".as_bytes())?; // a BOM, so spreadsheets open it as UTF-8
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(file);
        let mut header = vec!["line"];
        header.extend(headers.iter());
        header.push("reasons");
        writer.write_record(&header)?;
        Ok(RejectsWriter { path, tmp, writer, count: 0 })
    }

    pub fn write(&mut self, line: u64, record: &csv::StringRecord, reasons: &[String]) -> std::io::Result<()> {
        let line = line.to_string();
        let joined = reasons.join("; ");
        let row = std::iter::once(line.as_str()).chain(record.iter()).chain(std::iter::once(joined.as_str()));
        self.writer.write_record(row)?;
        self.count += 1;
        Ok(())
    }

    /// Moves the file into place, or removes it when nothing was rejected.
    pub fn finish(self) -> std::io::Result<Option<PathBuf>> {
        let file = self.writer.into_inner().map_err(|e| e.into_error())?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        if self.count == 0 {
            std::fs::remove_file(&self.tmp)?;
            return Ok(None);
        }
        std::fs::rename(&self.tmp, &self.path)?;
        Ok(Some(self.path))
    }

    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[ColumnSpec] = &[
        ColumnSpec { name: "person_id", aliases: &["身份证号"], required: true },
        ColumnSpec { name: "name", aliases: &["姓名"], required: true },
        ColumnSpec { name: "phone", aliases: &["联系电话"], required: false },
    ];

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn rows(path: &Path) -> Vec<(String, String)> {
        let scan = scan(path, EncodingChoice::Auto).unwrap();
        let mut input = CsvInput::open(path, scan.encoding, SPEC).unwrap();
        let mut rec = csv::StringRecord::new();
        let mut out = vec![];
        while input.next_row(&mut rec).unwrap() {
            out.push((input.field(&rec, 0).to_string(), input.field(&rec, 1).to_string()));
        }
        out
    }

    #[test]
    fn reads_utf8_with_and_without_bom_and_gbk_alike() {
        let dir = tempfile::tempdir().unwrap();
        let text = "身份证号, 姓名 ,other\r\n11010519491231002X,陈秀英,x\r\n";
        let plain = write(dir.path(), "a.csv", text.as_bytes());
        let bom = write(dir.path(), "b.csv", &[b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat());
        let gbk = write(dir.path(), "c.csv", &crate::formats::gbk::encode(text).unwrap());
        let want = vec![("11010519491231002X".to_string(), "陈秀英".to_string())];
        assert_eq!(rows(&plain), want);
        assert_eq!(rows(&bom), want);
        assert_eq!(rows(&gbk), want);
        assert_eq!(scan(&gbk, EncodingChoice::Auto).unwrap().encoding, Encoding::Gbk);
        assert!(matches!(scan(&gbk, EncodingChoice::Utf8), Err(InputError::NotUtf8 { .. })));
        assert_ne!(
            scan(&plain, EncodingChoice::Auto).unwrap().sha256,
            scan(&bom, EncodingChoice::Auto).unwrap().sha256
        );
    }

    #[test]
    fn a_missing_required_column_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.csv", b"person_id,phone\n1,2\n");
        let e = CsvInput::open(&p, Encoding::Utf8, SPEC).err().unwrap().to_string();
        assert!(e.contains("missing required column name") && e.contains("姓名"), "{e}");
    }

    #[test]
    fn rejects_file_keeps_the_row_line_and_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let input = write(dir.path(), "r.csv", b"person_id,name\nx,y\n");
        let mut w = RejectsWriter::create(&input, &csv::StringRecord::from(vec!["person_id", "name"])).unwrap();
        w.write(2, &csv::StringRecord::from(vec!["x", "y"]), &["bad id".into(), "bad name".into()]).unwrap();
        let path = w.finish().unwrap().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text, "\u{feff}line,person_id,name,reasons\n2,x,y,bad id; bad name\n");
    }
}

#[cfg(test)]
mod line_numbers {
    use super::*;

    #[test]
    fn records_keep_their_file_line_numbers_whatever_the_line_ends() {
        for (name, text) in [
            ("lf", "a,b\n1,2\n3,4\n"),
            ("crlf", "a,b\r\n1,2\r\n3,4\r\n"),
            ("bom_crlf", "\u{feff}a,b\r\n1,2\r\n3,4\r\n"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("x.csv");
            std::fs::write(&p, text).unwrap();
            let spec = [ColumnSpec { name: "a", aliases: &[], required: true }];
            let mut input = CsvInput::open(&p, Encoding::Utf8, &spec).unwrap();
            let mut rec = csv::StringRecord::new();
            let mut lines = vec![];
            while input.next_row(&mut rec).unwrap() {
                lines.push(line_of(&rec));
            }
            assert_eq!(lines, [2, 3], "{name}");
        }
    }

    #[test]
    fn crlf_split_across_reads_is_still_one_line_end() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else { return Ok(0) };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut out = String::new();
        CrlfToLf { inner: OneByte(b"a\r\nb\rc\r"), pending_cr: false }.read_to_string(&mut out).unwrap();
        assert_eq!(out, "a\nb\rc\r");
    }
}
