//! Reading small inputs that may be anything (a results file, an SDP, a list of queries): a
//! file is opened without blocking and checked on its descriptor before any byte is read —
//! a regular file (or, where asked, a pipe) of a bounded size; a link to `/dev/zero`, a FIFO
//! with no writer or a 20 GB file is refused with one line naming the cause.
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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
