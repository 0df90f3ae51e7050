//! The bundle as a zip (bundle spec §2.2) and Go duration text (§2.1).
//!
//! Entries come in depth-first order with each directory's children sorted by name
//! (so `kgateway/` and its files precede `kgateway-crds/`), one entry per directory
//! (mode 0755) and per file (0600, scripts 0755), all stamped 1980-01-01 00:00 so
//! the same bundle always gives the same bytes. Files are deflated (level 1) unless
//! they are under 1 KiB, which are stored.

use super::Bundle;
use flate2::{Compress, Compression, FlushCompress, Status};
use rayon::prelude::*;
use std::time::Duration;

/// Files smaller than this are stored rather than deflated.
pub const STORE_BELOW: usize = 1024;

/// Entry names in archive order: `(name, is_dir)`, directories ending in `/`.
pub fn entry_order(bundle: &Bundle) -> Vec<(String, bool)> {
    let mut entries: Vec<(Vec<&str>, bool)> = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for f in &bundle.files {
        let parts: Vec<&str> = f.path.split('/').collect();
        for i in 1..parts.len() {
            if dirs.insert(parts[..i].to_vec()) {
                entries.push((parts[..i].to_vec(), true));
            }
        }
        entries.push((parts, false));
    }
    // Comparing name lists element-wise is exactly a depth-first walk with sorted
    // children: a directory sorts right before its contents.
    entries.sort();
    entries
        .into_iter()
        .map(|(parts, dir)| (if dir { format!("{}/", parts.join("/")) } else { parts.join("/") }, dir))
        .collect()
}

/// One archive member, ready to be written.
struct Member<'a> {
    name: String,
    /// Unix mode including the file-type bits.
    mode: u32,
    crc: u32,
    size: usize,
    /// Deflated bytes, or `None` to store `raw` as it is.
    deflated: Option<Vec<u8>>,
    raw: &'a [u8],
}

impl Member<'_> {
    fn data(&self) -> &[u8] {
        self.deflated.as_deref().unwrap_or(self.raw)
    }
    fn method(&self) -> u16 {
        if self.deflated.is_some() { 8 } else { 0 }
    }
    /// The fields local and central headers share, from "version needed" to the
    /// (empty) extra field's length.
    fn write_common(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        u16le(out, NEEDED);
        u16le(out, flags(&self.name));
        u16le(out, self.method());
        u16le(out, DOS_TIME);
        u16le(out, DOS_DATE);
        out.extend_from_slice(&self.crc.to_le_bytes());
        u32le(out, self.data().len())?;
        u32le(out, self.size)?;
        let name_len = u16::try_from(self.name.len()).map_err(|_| std::io::Error::other("entry name too long"))?;
        u16le(out, name_len);
        u16le(out, 0); // extra field
        Ok(())
    }
}

/// Raw deflate (no zlib wrapper) at level 1: text compresses nearly as well as at 6
/// and several times faster. Each thread keeps its compressor: a reset is much cheaper
/// than setting up the window and tables again for every member.
fn deflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Compress> = std::cell::RefCell::new(Compress::new(Compression::new(1), false));
    }
    COMPRESSOR.with_borrow_mut(|c| {
        c.reset();
        let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
        loop {
            let consumed = c.total_in() as usize;
            match c.compress_vec(&bytes[consumed..], &mut out, FlushCompress::Finish)? {
                Status::StreamEnd => return Ok(out),
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(1024)),
            }
        }
    })
}

// Header fields shared by every entry: made by Unix (3) with spec version 2.0; version
// 2.0 needed to extract; no flags (bit 11, UTF-8 names, when a name is not ASCII);
// stamped 1980-01-01 00:00 in MS-DOS time.
const MADE_BY: u16 = (3 << 8) | 20;
const NEEDED: u16 = 20;
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

fn flags(name: &str) -> u16 {
    if name.is_ascii() { 0 } else { 1 << 11 }
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: usize) -> std::io::Result<()> {
    let v = u32::try_from(v).map_err(|_| std::io::Error::other("bundle too large for a zip without ZIP64"))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Writes the bundle as a zip archive in memory. Members are compressed in parallel;
/// the archive's bytes depend only on the bundle.
pub fn zip(bundle: &Bundle) -> std::io::Result<Vec<u8>> {
    let order = entry_order(bundle);
    let members: Vec<Member> = order
        .into_par_iter()
        .map(|(name, dir)| {
            if dir {
                return Ok(Member { name, mode: 0o040755, crc: 0, size: 0, deflated: None, raw: &[] });
            }
            let file = bundle.files.iter().find(|f| f.path == name).expect("entry comes from the bundle");
            let bytes = file.bytes.as_slice();
            let mode = 0o100000 | if file.executable { 0o755 } else { 0o600 };
            // Setting up a deflate stream costs more than it saves on small files.
            let deflated = if bytes.len() < STORE_BELOW { None } else { Some(deflate(bytes)?) };
            Ok(Member { name, mode, crc: crc32fast::hash(bytes), size: bytes.len(), deflated, raw: bytes })
        })
        .collect::<std::io::Result<_>>()?;

    let total: usize = members.iter().map(|m| 76 + 2 * m.name.len() + m.data().len()).sum();
    let mut out = Vec::with_capacity(total + 22);
    let mut offsets = Vec::with_capacity(members.len());
    for m in &members {
        offsets.push(out.len());
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        m.write_common(&mut out)?;
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(m.data());
    }
    let directory = out.len();
    for (m, offset) in members.iter().zip(offsets) {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        u16le(&mut out, MADE_BY);
        m.write_common(&mut out)?;
        u16le(&mut out, 0); // comment
        u16le(&mut out, 0); // disk number
        u16le(&mut out, 0); // internal attributes
        // External attributes: the Unix mode in the high half; MS-DOS directory bit.
        let dos = if m.mode & 0o040000 != 0 { 0x10 } else { 0 };
        out.extend_from_slice(&((m.mode << 16) | dos).to_le_bytes());
        u32le(&mut out, offset)?;
        out.extend_from_slice(m.name.as_bytes());
    }
    let directory_size = out.len() - directory;
    let count = u16::try_from(members.len()).map_err(|_| std::io::Error::other("too many bundle entries"))?;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, count);
    u16le(&mut out, count);
    u32le(&mut out, directory_size)?;
    u32le(&mut out, directory)?;
    u16le(&mut out, 0);
    Ok(out)
}

/// Go's `time.Duration.String()`: `0s`, `850ns`, `950.1µs`, `11.374128ms`, `1.5s`,
/// `2m3.25s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let frac = |value: u128, unit: u128| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let width = unit.ilog10() as usize;
        let digits = format!("{rest:0width$}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", frac(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", frac(nanos, 1_000_000));
    }
    let secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let seconds = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        for (d, s) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(950_100), "950.1µs"),
            (Duration::from_nanos(11_374_128), "11.374128ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(123_250), "2m3.25s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_micros(1000), "1ms"),
        ] {
            assert_eq!(go_duration(d), s);
        }
    }

    #[test]
    fn order_is_depth_first_by_name() {
        let mut b = Bundle::default();
        for p in [
            "kgateway-crds/values.yaml",
            "kgateway/values.yaml",
            "README.md",
            "checksums.txt",
            "a/manifests/x.yaml",
            "a/values.yaml",
        ] {
            b.add(p, "x", false);
        }
        let names: Vec<String> = entry_order(&b).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "README.md",
                "a/",
                "a/manifests/",
                "a/manifests/x.yaml",
                "a/values.yaml",
                "checksums.txt",
                "kgateway/",
                "kgateway/values.yaml",
                "kgateway-crds/",
                "kgateway-crds/values.yaml"
            ]
        );
    }

    #[test]
    fn zips_are_deterministic() {
        let mut b = Bundle::default();
        b.add("deploy.sh", "#!/bin/sh\n", true);
        b.add("a/values.yaml", "x: 1\n", false);
        let one = zip(&b).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(one, zip(&b).unwrap());
    }

    #[test]
    fn members_read_back_with_modes_and_contents() {
        use std::io::Read;
        let mut b = Bundle::default();
        let big = "key: value\n".repeat(500);
        b.add("deploy.sh", "#!/bin/sh\n", true);
        b.add("a/values.yaml", big.clone(), false);
        b.add("a/é.txt", "accent\n", false);
        let bytes = zip(&b).unwrap();
        let mut archive = ::zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let names: Vec<String> =
            (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().to_string()).collect();
        assert_eq!(names, ["a/", "a/values.yaml", "a/é.txt", "deploy.sh"]);
        let expect = [
            ("a/", 0o040755, None),
            ("a/values.yaml", 0o100600, Some(big.as_str())),
            ("a/é.txt", 0o100600, Some("accent\n")),
            ("deploy.sh", 0o100755, Some("#!/bin/sh\n")),
        ];
        for (name, mode, text) in expect {
            let mut f = archive.by_name(name).unwrap();
            assert_eq!(f.unix_mode(), Some(mode), "{name}");
            assert_eq!(f.is_dir(), text.is_none(), "{name}");
            if let Some(text) = text {
                let mut got = String::new();
                f.read_to_string(&mut got).unwrap();
                assert_eq!(got, text, "{name}");
            }
        }
        // The large file is deflated, the small ones stored.
        assert_eq!(archive.by_name("a/values.yaml").unwrap().compression(), ::zip::CompressionMethod::Deflated);
        assert_eq!(archive.by_name("deploy.sh").unwrap().compression(), ::zip::CompressionMethod::Stored);
    }
}
