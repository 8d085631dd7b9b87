//! Fuzz target `bootfs`: the boot archive reader (`zb_abi::bootfs::BootFs::parse`), which the
//! kernel runs on the ramdisk or flash image it was given.
//!
//! The input is read two ways: as an archive, and as a list of files (`path \0 data \0 …`) to
//! write as one. Beyond "never panics" it asserts:
//! - a parsed archive's entries have absolute, unique paths of 1..=`MAX_PATH` bytes without
//!   NUL, `len` counts them, `get` finds each one's data, and writing them back (the format of
//!   the module docs) gives exactly the input;
//! - an archive written from a list of files parses exactly when its paths are valid and
//!   unique, and gives those files back in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_abi::bootfs::{BootFs, Entry, MAGIC, MAX_ENTRIES, MAX_PATH};

fn write(files: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::from(MAGIC);
    out.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (path, data) in files {
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(data);
    }
    out
}

fn valid_path(p: &[u8]) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PATH
        && p.starts_with(b"/")
        && !p.contains(&0)
        && std::str::from_utf8(p).is_ok()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(fs) = BootFs::parse(data) {
        let entries: Vec<Entry<'_>> = fs.iter().collect();
        assert_eq!(entries.len(), fs.len());
        assert!(fs.len() <= MAX_ENTRIES);
        assert_eq!(fs.is_empty(), entries.is_empty());
        for (i, e) in entries.iter().enumerate() {
            assert!(valid_path(e.path.as_bytes()), "{:?}", e.path);
            assert!(
                entries[..i].iter().all(|o| o.path != e.path),
                "{} twice",
                e.path
            );
            assert_eq!(fs.get(e.path), Some(e.data));
        }
        let files: Vec<(&[u8], &[u8])> = entries
            .iter()
            .map(|e| (e.path.as_bytes(), e.data))
            .collect();
        assert_eq!(write(&files), data, "written back");
    }

    let mut parts = data.split(|&b| b == 0);
    let mut files: Vec<(&[u8], &[u8])> = Vec::new();
    while let Some(path) = parts.next() {
        files.push((path, parts.next().unwrap_or_default()));
    }
    let archive = write(&files);
    let ok = files.len() <= MAX_ENTRIES
        && files
            .iter()
            .enumerate()
            .all(|(i, (p, _))| valid_path(p) && files[..i].iter().all(|(o, _)| o != p));
    match BootFs::parse(&archive) {
        Ok(fs) => {
            assert!(ok, "accepted bad paths or duplicates: {files:?}");
            let back: Vec<(&[u8], &[u8])> =
                fs.iter().map(|e| (e.path.as_bytes(), e.data)).collect();
            assert_eq!(back, files);
        }
        Err(_) => assert!(!ok, "refused a good archive: {files:?}"),
    }
});
