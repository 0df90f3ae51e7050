//! The bundle as a zip (bundle spec §2.2) and Go duration text (§2.1).
//!
//! Entries come in depth-first order with each directory's children sorted by name
//! (so `kgateway/` and its files precede `kgateway-crds/`), one entry per directory
//! (mode 0755) and per file (0600, scripts 0755), all stamped 1980-01-01 00:00 so
//! the same bundle always gives the same bytes. Files are deflated (level 1) unless
//! they are under 1 KiB, which are stored.

use super::Bundle;
use std::io::{Cursor, Write};
use std::time::Duration;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

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

/// Writes the bundle as a zip archive in memory.
pub fn zip(bundle: &Bundle) -> std::io::Result<Vec<u8>> {
    let mut w = ZipWriter::new(Cursor::new(Vec::with_capacity(bundle.size() / 3 + 4096)));
    let stored = SimpleFileOptions::default()
        .last_modified_time(DateTime::default())
        .compression_method(CompressionMethod::Stored);
    // Level 1: text compresses nearly as well as at 6 and several times faster.
    let deflated = stored.compression_method(CompressionMethod::Deflated).compression_level(Some(1));
    for (name, dir) in entry_order(bundle) {
        if dir {
            w.add_directory(name, stored.unix_permissions(0o755))?;
            continue;
        }
        let file = bundle.files.iter().find(|f| f.path == name).expect("entry comes from the bundle");
        let mode = if file.executable { 0o755 } else { 0o600 };
        // Setting up a deflate stream costs more than it saves on small files.
        let options = if file.bytes.len() < STORE_BELOW { stored } else { deflated };
        w.start_file(name, options.unix_permissions(mode))?;
        w.write_all(&file.bytes)?;
    }
    Ok(w.finish()?.into_inner())
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
}
