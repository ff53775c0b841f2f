//! Reading the files a user names (weights, mixtures, level classifiers) safely: only regular
//! files, at most `limits::FILE_BYTES`, with a message that says what the path is instead
//! (a directory, a FIFO that would block, a device such as /dev/urandom that never ends).

use std::fs::File;
use std::io::Read;

use crate::core::limits::FILE_BYTES;

/// The text of the regular file at `path`; `what` names it in the message ("weights file").
pub fn read_text(path: &str, what: &str) -> Result<String, String> {
    // metadata follows symbolic links, so a link to a regular file is read and a link to a
    // FIFO is refused before anything opens it (opening a FIFO blocks until a writer comes).
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
        return Err(format!("{what} {path} is {kind}: name a regular file"));
    }
    if meta.len() > FILE_BYTES {
        return Err(format!("{what} {path} has {} bytes, more than the {FILE_BYTES} this tool reads", meta.len()));
    }
    let file = File::open(path).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
    // Read at most one byte past the cap, in case the file grew since we looked.
    let mut bytes = Vec::new();
    file.take(FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
    if bytes.len() as u64 > FILE_BYTES {
        return Err(format!("{what} {path} is larger than the {FILE_BYTES} bytes this tool reads"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{what} {path} is not UTF-8 text: expected JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_devices_and_missing_files_are_refused_by_name() {
        let dir = std::env::temp_dir();
        let e = read_text(dir.to_str().unwrap(), "weights file").unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        let e = read_text("/dev/urandom", "mixture file").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_text("/no/such/file.json", "weights file").unwrap_err();
        assert!(e.contains("cannot read weights file /no/such/file.json"), "{e}");
    }

    #[test]
    fn a_regular_file_is_read() {
        let path = std::env::temp_dir().join(format!("nde-files-test-{}.json", std::process::id()));
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(read_text(path.to_str().unwrap(), "file").unwrap(), "{}");
        std::fs::remove_file(&path).unwrap();
    }
}
