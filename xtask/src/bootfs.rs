//! The boot archive writer: the programs and files the image carries, in the format
//! `zb_abi::bootfs` reads (the layout and its limits are defined there; this is the only
//! writer). Refuses what the reader would refuse, so a written archive always parses.

use zb_abi::bootfs::{ENTRY_HEADER_LEN, HEADER_LEN, MAGIC, MAX_ENTRIES, MAX_PATH};

/// One file of the archive.
pub struct File {
    /// Absolute path, e.g. `/bin/hello`.
    pub path: String,
    pub data: Vec<u8>,
}

/// Encodes `files` (in this order) as a boot archive.
pub fn encode(files: &[File]) -> Result<Vec<u8>, String> {
    if files.len() > MAX_ENTRIES {
        return Err(format!(
            "{} files; a boot archive holds at most {MAX_ENTRIES}",
            files.len()
        ));
    }
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + files
                .iter()
                .map(|f| ENTRY_HEADER_LEN + f.path.len() + f.data.len())
                .sum::<usize>(),
    );
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (i, f) in files.iter().enumerate() {
        let path = &f.path;
        if !path.starts_with('/') || path.contains('\0') || path.len() > MAX_PATH {
            return Err(format!(
                "boot archive path {path:?}: must be absolute, without NUL, at most {MAX_PATH} bytes"
            ));
        }
        if files[..i].iter().any(|g| g.path == *path) {
            return Err(format!("boot archive path {path:?} appears twice"));
        }
        let data_len = u32::try_from(f.data.len())
            .map_err(|_| format!("{path}: {} bytes is too large", f.data.len()))?;
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(&data_len.to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&f.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zb_abi::bootfs::BootFs;

    fn file(path: &str, data: &[u8]) -> File {
        File {
            path: path.into(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn what_is_written_parses_back() {
        let files = [
            file("/bin/hello", b"\0asm\x01\0\0\0"),
            file("/etc/motd", b"hi\n"),
            file("/empty", b""),
        ];
        let bytes = encode(&files).unwrap();
        let fs = BootFs::parse(&bytes).unwrap();
        assert_eq!(fs.len(), 3);
        for (entry, f) in fs.iter().zip(&files) {
            assert_eq!(entry.path, f.path);
            assert_eq!(entry.data, &f.data[..]);
        }
        let empty = encode(&[]).unwrap();
        assert!(BootFs::parse(&empty).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_the_reader_refuses() {
        assert!(encode(&[file("bin/x", b"")]).is_err());
        assert!(encode(&[file("/a\0b", b"")]).is_err());
        assert!(encode(&[file(&format!("/{}", "x".repeat(MAX_PATH)), b"")]).is_err());
        assert!(encode(&[file("/a", b"1"), file("/a", b"2")]).is_err());
        assert!(encode(&[]).is_ok());
    }
}
