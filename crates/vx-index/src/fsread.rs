//! Reading a results directory that may hold anything: files read only when they are regular
//! files of a bounded size ([`vx_image::fsread::read_capped`]) inside the directory they
//! belong to (a link to `/dev/zero`, a FIFO, a 20 GB file or a link out of the results
//! directory is refused, never read), and the identity of a source file (what `vx serve`
//! compares before playing it).
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use vx_image::fsread::{describe_type, read_capped};

/// The largest `result.json` or operation output (`transcribe.json`, `detect.json`...) the
/// index reads: 256 MiB, some hundred times what a long film's detections on every frame
/// take, and a bound on the memory a planted file can make `vx index` use.
pub const MAX_JSON_BYTES: u64 = 256 << 20;

/// `file` (a name inside the directory `root`, already resolved: canonical) with every link
/// resolved, when it still lies inside `root`; else the cause.
pub fn inside(root: &Path, file: &Path) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(file).map_err(|e| e.to_string())?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(format!(
            "a link to {}, outside {}: not read",
            real.display(),
            root.display()
        ))
    }
}

/// The identity of a file as the index records it for a source (`files.path_stat`): size,
/// modification time (nanoseconds) and inode. A source replaced, edited, touched or swapped
/// for a link to another file after indexing no longer has it. (Not the device number: NFS,
/// btrfs subvolumes and removable disks get a new one at each mount, and every source there
/// would stop playing after a reboot.)
pub fn identity(meta: &std::fs::Metadata) -> String {
    format!(
        "size={} mtime={}.{:09} ino={}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let d = std::env::temp_dir().join(format!("vx-index-fsread-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("a.json");
        std::fs::write(&f, b"{}").unwrap();
        assert_eq!(read_capped(&f, 10, false).unwrap(), b"{}");
        // Over the limit by its size (a sparse file: nothing is read).
        let big = d.join("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(11 << 20)
            .unwrap();
        let e = read_capped(&big, 10 << 20, false).unwrap_err();
        assert!(e.contains("more than the 10 MiB"), "{e}");
        // A device and a FIFO with no writer: refused at once, never read.
        let e = read_capped(Path::new("/dev/zero"), MAX_JSON_BYTES, false).unwrap_err();
        assert!(e.contains("character device"), "{e}");
        let fifo = d.join("fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_capped(&fifo, MAX_JSON_BYTES, false).unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
        assert!(read_capped(&d, MAX_JSON_BYTES, false)
            .unwrap_err()
            .contains("directory"));
        // Inside: a link leading out is named.
        std::os::unix::fs::symlink("/etc/passwd", d.join("out.json")).unwrap();
        let root = std::fs::canonicalize(&d).unwrap();
        assert!(inside(&root, &f).is_ok());
        let e = inside(&root, &d.join("out.json")).unwrap_err();
        assert!(e.contains("/etc/passwd"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
