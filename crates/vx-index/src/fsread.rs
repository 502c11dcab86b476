//! Reading a results directory that may hold anything: files read only when they are regular
//! files of a bounded size inside the directory they belong to (a link to `/dev/zero`, a
//! FIFO, a 20 GB file or a link out of the results directory is refused, never read), and
//! the identity of a source file (what `vx serve` compares before playing it).
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest `result.json` or operation output (`transcribe.json`, `detect.json`...) the
/// index reads: 256 MiB, some hundred times what a long film's detections on every frame
/// take, and a bound on the memory a planted file can make `vx index` use.
pub const MAX_JSON_BYTES: u64 = 256 << 20;

/// Open `path` for reading without blocking on a FIFO (O_NONBLOCK: opening a FIFO with no
/// writer returns at once; a regular file reads as usual) and check what it is before any
/// byte is read: a regular file (`pipes` too: FIFOs and pipes) of at most `max` bytes. The
/// bytes, or one line naming the cause (the caller names the file).
pub fn read_capped(path: &Path, max: u64, pipes: bool) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    let ft = meta.file_type();
    let pipe = {
        use std::os::unix::fs::FileTypeExt;
        ft.is_fifo()
    };
    if meta.is_dir() {
        return Err("is a directory".into());
    }
    if !(ft.is_file() || pipes && pipe) {
        return Err(format!(
            "not a regular file ({}): not read",
            describe_type(&meta)
        ));
    }
    if meta.len() > max {
        return Err(too_large(meta.len(), max));
    }
    if pipe {
        // Reads block again (the writer decides when the data ends).
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe {
            use std::os::fd::AsRawFd;
            let fd = file.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    // A file growing while it is read stops at the limit too.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

fn too_large(len: u64, max: u64) -> String {
    format!(
        "{len} bytes, more than the {} MiB vx reads from such a file",
        max >> 20
    )
}

/// What a file that is not a regular one is, for messages.
pub fn describe_type(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

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
