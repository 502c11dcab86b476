//! The one output writer of vx. Every file vx writes goes through here, so that:
//!
//! * a reader never sees a half-written file: a regular destination is written to an unnamed
//!   temporary file in the same directory (`O_TMPFILE`; where the file system lacks it, a
//!   hidden name with 64 random bits created with `O_EXCL | O_NOFOLLOW`), then given its name
//!   by one rename when complete. A killed run leaves nothing behind with `O_TMPFILE`; a planted
//!   symlink at a temporary name is never followed.
//! * non-regular destinations (`/dev/null`, a FIFO, a terminal, a socket) are written directly,
//!   never replaced by a regular file; `-` is standard output.
//! * a symlink at the destination is written *through* (its target is replaced), as `ffmpeg`
//!   and `cp` do; the link itself stays.
//! * an output directory is owned by one run at a time ([`DirLock`], an advisory `flock` on the
//!   directory itself: released by the kernel when the process dies), and a run's files are
//!   built in a private staging directory and published together ([`Stage`]), so an
//!   interrupted or failed run never presents an earlier run's files as its own.
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

/// 64 unpredictable bits (std's hasher keys come from the OS's random source).
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

fn cstring(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Where bytes for `dest` really go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-`: standard output.
    Stdout,
    /// An existing non-regular file (character device, FIFO, socket): opened and written.
    Direct(PathBuf),
    /// A regular file (existing or not): written beside it, renamed over it.
    Regular(PathBuf),
}

/// Decide where `dest` is written: `-` is stdout, symlinks are followed to their target
/// (dangling ones too), non-regular files are written directly, directories are refused.
pub fn target(dest: &Path) -> io::Result<Target> {
    if dest.as_os_str() == "-" {
        return Ok(Target::Stdout);
    }
    let mut path = dest.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                ))
            }
            Ok(m) if m.is_file() => return Ok(Target::Regular(path)),
            Ok(m) => {
                let t = m.file_type();
                if t.is_char_device() || t.is_fifo() || t.is_socket() || t.is_block_device() {
                    return Ok(Target::Direct(path));
                }
                return Ok(Target::Regular(path));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Regular(path)),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// True when `a` and `b` name the same existing file (after links): used to refuse writing
/// an output over the input it is made from.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

enum Sink {
    Stdout(io::Stdout),
    Direct(File),
    /// An unnamed `O_TMPFILE` in `dir`.
    Unnamed {
        file: File,
        dir: PathBuf,
    },
    /// A hidden, exclusively created temporary name (removed unless committed).
    Named {
        file: File,
        tmp: PathBuf,
    },
}

/// A file being written for `dest`: a [`Write`] (and, for regular files, [`Seek`]) that
/// becomes visible under its name only on [`OutFile::commit`]. Dropped without a commit, it
/// leaves nothing behind (a non-regular destination has received what was written).
pub struct OutFile {
    sink: Option<Sink>,
    dest: PathBuf,
    /// The regular file the temporary file replaces on commit.
    final_path: PathBuf,
}

impl OutFile {
    /// Open `dest` for writing: fails at once when the directory is missing or not writable,
    /// so a long run does not fail at its end.
    pub fn create(dest: &Path) -> io::Result<OutFile> {
        let (sink, final_path) = match target(dest)? {
            Target::Stdout => (Sink::Stdout(io::stdout()), PathBuf::from("-")),
            Target::Direct(p) => {
                let f = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&p)?;
                (Sink::Direct(f), p)
            }
            Target::Regular(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let unnamed = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .mode(0o666)
                    .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
                    .open(&dir);
                let sink = match unnamed {
                    Ok(file) if Path::new("/proc/self/fd").is_dir() => Sink::Unnamed { file, dir },
                    // ENOENT / EACCES / EROFS are the directory's fault: report them.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ENOENT | libc::EACCES | libc::EROFS | libc::ENOTDIR)
                        ) =>
                    {
                        return Err(e)
                    }
                    // No O_TMPFILE here (EOPNOTSUPP, EISDIR on old kernels): a named one.
                    _ => {
                        let (file, tmp) = named_temp(&dir, &p)?;
                        Sink::Named { file, tmp }
                    }
                };
                (sink, p)
            }
        };
        Ok(OutFile {
            sink: Some(sink),
            dest: dest.to_path_buf(),
            final_path,
        })
    }

    /// The destination as given.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// True when the output can be rewound (regular files): e.g. to fill in a WAV header.
    pub fn seekable(&self) -> bool {
        matches!(
            self.sink,
            Some(Sink::Unnamed { .. }) | Some(Sink::Named { .. })
        )
    }

    fn writer(&mut self) -> io::Result<&mut dyn Write> {
        match self.sink.as_mut() {
            Some(Sink::Stdout(s)) => Ok(s),
            Some(Sink::Direct(f)) | Some(Sink::Unnamed { file: f, .. }) => Ok(f),
            Some(Sink::Named { file, .. }) => Ok(file),
            None => Err(io::Error::other("output already committed")),
        }
    }

    /// Make the file visible under its name (regular files: one rename over the old one).
    pub fn commit(mut self) -> io::Result<()> {
        match self.sink.take() {
            Some(Sink::Stdout(mut s)) => s.flush(),
            Some(Sink::Direct(mut f)) => f.flush(),
            Some(Sink::Unnamed { file, dir }) => {
                let proc = cstring(&PathBuf::from(format!(
                    "/proc/self/fd/{}",
                    file.as_raw_fd()
                )))?;
                // linkat cannot replace a name: link under a fresh random name, then rename.
                for _ in 0..16 {
                    let tmp = temp_name(&dir, &self.final_path);
                    let c = cstring(&tmp)?;
                    // SAFETY: both paths are valid NUL-terminated strings for the call.
                    let r = unsafe {
                        libc::linkat(
                            libc::AT_FDCWD,
                            proc.as_ptr(),
                            libc::AT_FDCWD,
                            c.as_ptr(),
                            libc::AT_SYMLINK_FOLLOW,
                        )
                    };
                    if r != 0 {
                        let e = io::Error::last_os_error();
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            continue;
                        }
                        return Err(e);
                    }
                    drop(file);
                    return std::fs::rename(&tmp, &self.final_path).inspect_err(|_| {
                        let _ = std::fs::remove_file(&tmp);
                    });
                }
                Err(io::Error::other("no free temporary name"))
            }
            Some(Sink::Named { file, tmp }) => {
                drop(file);
                std::fs::rename(&tmp, &self.final_path).inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })
            }
            None => Ok(()),
        }
    }
}

fn temp_name(dir: &Path, final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.{:016x}.vx-tmp", random_u64()))
}

fn named_temp(dir: &Path, final_path: &Path) -> io::Result<(File, PathBuf)> {
    for _ in 0..16 {
        let tmp = temp_name(dir, final_path);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary name"))
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Seek for OutFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self.sink.as_mut() {
            Some(Sink::Unnamed { file, .. }) | Some(Sink::Named { file, .. }) => file.seek(pos),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "output is not seekable",
            )),
        }
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if let Some(Sink::Named { file, tmp }) = self.sink.take() {
            drop(file);
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Write `bytes` to `path` atomically (see [`OutFile`]). On error nothing is left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OutFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A name for writers that open their output by path themselves (FFmpeg's muxers): a hidden,
/// randomly named regular file created exclusively beside a regular destination (renamed on
/// [`NamedOut::commit`], removed when dropped uncommitted), or the destination itself when it
/// is not a regular file (`/dev/null`, a FIFO; `-` is `/dev/stdout`).
pub struct NamedOut {
    path: PathBuf,
    /// `Some(final)` when `path` is a temporary name to rename to `final`.
    rename_to: Option<PathBuf>,
}

impl NamedOut {
    pub fn create(dest: &Path) -> io::Result<NamedOut> {
        Ok(match target(dest)? {
            Target::Stdout => NamedOut {
                path: "/dev/stdout".into(),
                rename_to: None,
            },
            Target::Direct(p) => NamedOut {
                path: p,
                rename_to: None,
            },
            Target::Regular(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let (_file, tmp) = named_temp(&dir, &p)?;
                NamedOut {
                    path: tmp,
                    rename_to: Some(p),
                }
            }
        })
    }

    /// The path to open and write.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn commit(mut self) -> io::Result<()> {
        match self.rename_to.take() {
            Some(to) => std::fs::rename(&self.path, to).inspect_err(|_| {
                let _ = std::fs::remove_file(&self.path);
            }),
            None => Ok(()),
        }
    }
}

impl Drop for NamedOut {
    fn drop(&mut self) {
        if self.rename_to.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An output directory owned by this run: an exclusive `flock` on the directory, released
/// when dropped or when the process dies. A second run into the same directory is refused.
pub struct DirLock {
    _dir: File,
    path: PathBuf,
    /// The directory did not exist before this run.
    created: bool,
}

impl DirLock {
    /// Create `dir` if needed and take it. Fails with [`io::ErrorKind::WouldBlock`] when
    /// another run holds it. Staging directories left by killed runs are removed (no other
    /// run can own them while this one holds the directory).
    pub fn take(dir: &Path) -> io::Result<DirLock> {
        if let Ok(m) = std::fs::metadata(dir) {
            if !m.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "exists and is not a directory",
                ));
            }
        }
        let created = !dir.is_dir();
        std::fs::create_dir_all(dir)?;
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "in use by another vx run (one run per output directory)",
                )
            } else {
                e
            });
        }
        // A publication cut short by a killed run is finished first; then the stages of
        // killed runs (hidden, never presented) are removed.
        roll_forward(dir)?;
        for e in std::fs::read_dir(dir)?.flatten() {
            let name = e.file_name();
            let is_stage = name.to_string_lossy().starts_with(STAGE_PREFIX);
            if is_stage && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(DirLock {
            _dir: f,
            path: dir.to_path_buf(),
            created,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this run created the directory.
    pub fn created(&self) -> bool {
        self.created
    }
}

const STAGE_PREFIX: &str = ".vx-stage-";

/// A private directory inside a locked output directory where a run builds its files; they
/// appear in the output directory only on [`Stage::publish`]. Dropped unpublished (failure),
/// it is removed with everything in it. Stages of killed runs are removed by the next run
/// that takes the directory (it holds the lock, so no other run can own them).
pub struct Stage {
    lock: std::sync::Arc<DirLock>,
    stage: PathBuf,
    published: bool,
}

impl Stage {
    /// Take `dir` (see [`DirLock`]) and make a stage in it.
    pub fn begin(dir: &Path) -> io::Result<Stage> {
        Stage::new(std::sync::Arc::new(DirLock::take(dir)?))
    }

    /// A new stage in a directory this run holds (several stages may share one lock).
    pub fn new(lock: std::sync::Arc<DirLock>) -> io::Result<Stage> {
        let dir = lock.path().to_path_buf();
        for _ in 0..16 {
            let stage = dir.join(format!("{STAGE_PREFIX}{:016x}", random_u64()));
            match std::fs::create_dir(&stage) {
                Ok(()) => {
                    return Ok(Stage {
                        lock,
                        stage,
                        published: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free staging name"))
    }

    /// Where this run writes its files.
    pub fn path(&self) -> &Path {
        &self.stage
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        self.lock.path()
    }

    /// Publish the run: first remove `index` (the earlier run's file that lists its outputs,
    /// so nothing presents a mixture) and the earlier run's files `stale` (names relative to
    /// the directory; anything that is not a plain name inside it is ignored), then move
    /// every staged file into the directory, and `index` last.
    ///
    /// The steps are written down first in a journal (`DIR/.vx-publish`): a run killed in the
    /// middle of them (moving thousands of images takes a while) leaves the journal, and the
    /// next run that takes the directory finishes the publication before anything else
    /// ([`DirLock::take`]). The stage is complete before the journal exists, so finishing is
    /// always possible: the directory ends with the new complete result, never a mixture and
    /// never a half.
    pub fn publish(mut self, index: &str, stale: &[String]) -> io::Result<()> {
        let dir = self.dir().to_path_buf();
        if !is_plain_name(index) || index.contains('\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain name",
            ));
        }
        // An index that is not a file (a directory, a FIFO) cannot be replaced: say so
        // before anything moves.
        if let Ok(m) = std::fs::symlink_metadata(dir.join(index)) {
            if !(m.is_file() || m.file_type().is_symlink()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a regular file", dir.join(index).display()),
                ));
            }
        }
        let stage_name = self
            .stage
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut journal = format!("{stage_name}\n{index}\n");
        for st in stale {
            if is_plain_name(st) && st != index && !st.contains('\n') {
                journal.push_str(st);
                journal.push('\n');
            }
        }
        write_atomic(&dir.join(JOURNAL), journal.as_bytes())?;
        self.published = true;
        roll_forward(&dir)
    }

    /// Publish the stage as the directory `name` inside the output directory, replacing an
    /// earlier one as a whole (rename the old one away, rename the new one in, remove the
    /// old one).
    pub fn publish_as(mut self, name: &str) -> io::Result<PathBuf> {
        if !is_plain_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain name",
            ));
        }
        let to = self.dir().join(name);
        let mut old = None;
        if std::fs::symlink_metadata(&to).is_ok() {
            let aside = self
                .dir()
                .join(format!("{STAGE_PREFIX}{:016x}", random_u64()));
            std::fs::rename(&to, &aside)?;
            old = Some(aside);
        }
        std::fs::rename(&self.stage, &to)?;
        self.published = true;
        if let Some(old) = old {
            let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
        }
        Ok(to)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.stage);
            // A failed run into a directory it created leaves no empty directory behind.
            if self.lock.created && std::sync::Arc::strong_count(&self.lock) == 1 {
                let _ = std::fs::remove_dir(self.lock.path());
            }
        }
    }
}

/// The journal of a publication in progress (see [`Stage::publish`]).
const JOURNAL: &str = ".vx-publish";
/// The journal's third line once the earlier files are gone.
const MOVING: &str = "/moving";

/// Carry out (or finish) the publication written down in `dir/.vx-publish`; idempotent.
fn roll_forward(dir: &Path) -> io::Result<()> {
    let text = match std::fs::read_to_string(dir.join(JOURNAL)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut lines = text.lines();
    let (Some(stage_name), Some(index)) = (lines.next(), lines.next()) else {
        // Torn before it was complete (it is written atomically, so only if damaged).
        return std::fs::remove_file(dir.join(JOURNAL));
    };
    if !stage_name.starts_with(STAGE_PREFIX) || !is_plain_name(stage_name) || !is_plain_name(index)
    {
        return std::fs::remove_file(dir.join(JOURNAL));
    }
    let stage = dir.join(stage_name);
    // Phase 1 (no "moving" line yet): remove the earlier run's index and files, then say so
    // in the journal; phase 2: move. A file in the directory may be old or new in phase 2, so
    // nothing is removed then.
    let rest: Vec<&str> = lines.collect();
    if rest.first() != Some(&MOVING) {
        remove_if_file(&dir.join(index))?;
        for st in &rest {
            if is_plain_name(st) && st != &index {
                remove_if_file(&dir.join(st))?;
            }
        }
        write_atomic(
            &dir.join(JOURNAL),
            format!("{stage_name}\n{index}\n{MOVING}\n").as_bytes(),
        )?;
    }
    if stage.is_dir() {
        let mut last = None;
        for e in std::fs::read_dir(&stage)? {
            let e = e?;
            let name = e.file_name();
            if name == index {
                last = Some(e.path());
                continue;
            }
            let to = dir.join(&name);
            if e.file_type()?.is_dir() {
                // A staged sub-directory replaces the old one as a whole.
                if let Ok(m) = std::fs::symlink_metadata(&to) {
                    if m.is_dir() {
                        std::fs::remove_dir_all(&to)?;
                    }
                }
            }
            std::fs::rename(e.path(), to)?;
        }
        if let Some(p) = last {
            std::fs::rename(p, dir.join(index))?;
        }
        let _ = std::fs::remove_dir(&stage);
    }
    std::fs::remove_file(dir.join(JOURNAL))
}

fn remove_if_file(p: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if !m.is_dir() => std::fs::remove_file(p),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A single normal path component (no `/`, `..`, `.` or root).
fn is_plain_name(s: &str) -> bool {
    let mut c = Path::new(s).components();
    matches!((c.next(), c.next()), (Some(Component::Normal(_)), None))
}

/// 32 bits of a stable hash (FNV-1a) of `path` made absolute: tells apart files of the same
/// name in different folders, the same across runs, builds and machines (the suffix of
/// `vx run`'s input ids; the index checks a source against it).
pub fn path_hash(path: &Path) -> u32 {
    let h = path_hash64(path);
    (h ^ (h >> 32)) as u32
}

/// [`path_hash`]'s whole 64-bit FNV-1a of the absolute path (where 32 bits collide).
pub fn path_hash64(path: &Path) -> u64 {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    });
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in abs.as_os_str().as_encoded_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmpdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vx-fsutil-{tag}-{}-{:x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_write_leaves_no_temp() {
        let dir = tmpdir("a");
        let p = dir.join("a.json");
        write_atomic(&p, b"{}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert_eq!(names(&dir), ["a.json"]);
        // Writing into a missing directory fails at creation and leaves nothing behind.
        let bad = dir.join("missing").join("b.json");
        assert!(OutFile::create(&bad).is_err());
        assert!(write_atomic(&bad, b"x").is_err());
        assert!(!bad.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn uncommitted_file_leaves_nothing_and_keeps_the_old_one() {
        let dir = tmpdir("b");
        let p = dir.join("x.wav");
        std::fs::write(&p, b"old").unwrap();
        let mut f = OutFile::create(&p).unwrap();
        f.write_all(b"new, half written").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(&dir), ["x.wav"]);
        // Forgotten (as a killed process would): still nothing visible (O_TMPFILE).
        let mut f = OutFile::create(&p).unwrap();
        f.write_all(b"new").unwrap();
        std::mem::forget(f);
        assert_eq!(names(&dir), ["x.wav"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn planted_symlinks_at_temporary_names_are_never_followed() {
        let dir = tmpdir("c");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        // The old predictable names, and a named temporary file created by hand.
        symlink(&victim, dir.join(".out.wav.vx-tmp")).unwrap();
        let (mut f, tmp) = named_temp(&dir, &dir.join("out.wav")).unwrap();
        f.write_all(b"x").unwrap();
        assert!(std::fs::symlink_metadata(&tmp).unwrap().is_file());
        drop(f);
        std::fs::remove_file(&tmp).unwrap();
        write_atomic(&dir.join("out.wav"), b"data").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(dir.join("out.wav"))
            .unwrap()
            .is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_at_the_destination_is_written_through() {
        let dir = tmpdir("d");
        let real = dir.join("real.json");
        std::fs::write(&real, b"old").unwrap();
        symlink("real.json", dir.join("link.json")).unwrap();
        write_atomic(&dir.join("link.json"), b"new").unwrap();
        assert!(std::fs::symlink_metadata(dir.join("link.json"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link creates its target.
        symlink("later.json", dir.join("dangling.json")).unwrap();
        write_atomic(&dir.join("dangling.json"), b"made").unwrap();
        assert_eq!(std::fs::read(dir.join("later.json")).unwrap(), b"made");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn special_files_are_written_not_replaced() {
        let dir = tmpdir("e");
        assert_eq!(
            target(Path::new("/dev/null")).unwrap(),
            Target::Direct("/dev/null".into())
        );
        assert_eq!(target(Path::new("-")).unwrap(), Target::Stdout);
        write_atomic(Path::new("/dev/null"), b"gone").unwrap();
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        // A FIFO gets the bytes, and stays a FIFO.
        let fifo = dir.join("fifo");
        let c = cstring(&fifo).unwrap();
        // SAFETY: a valid path string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(OutFile::create(&dir).is_err(), "a directory is refused");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_run_per_directory() {
        let dir = tmpdir("f");
        let a = DirLock::take(&dir).unwrap();
        let e = DirLock::take(&dir).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        DirLock::take(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stages_publish_together_and_vanish_on_failure() {
        let dir = tmpdir("g");
        std::fs::write(dir.join("index.json"), b"old").unwrap();
        std::fs::write(dir.join("kf-1.jpg"), b"old1").unwrap();
        std::fs::write(dir.join("kf-9.jpg"), b"old9").unwrap();
        std::fs::write(dir.join("notes.txt"), b"user's").unwrap();
        // A failed run: nothing changes.
        {
            let s = Stage::begin(&dir).unwrap();
            std::fs::write(s.path().join("kf-1.jpg"), b"new1").unwrap();
            assert!(Stage::begin(&dir).is_err(), "the directory is taken");
        }
        assert_eq!(
            names(&dir),
            ["index.json", "kf-1.jpg", "kf-9.jpg", "notes.txt"]
        );
        // A killed run's stage is removed by the next run.
        std::fs::create_dir(dir.join(".vx-stage-dead")).unwrap();
        let s = Stage::begin(&dir).unwrap();
        assert!(!dir.join(".vx-stage-dead").exists());
        std::fs::write(s.path().join("kf-1.jpg"), b"new1").unwrap();
        std::fs::write(s.path().join("index.json"), b"new").unwrap();
        s.publish(
            "index.json",
            &["kf-1.jpg".into(), "kf-9.jpg".into(), "../notes.txt".into()],
        )
        .unwrap();
        assert_eq!(names(&dir), ["index.json", "kf-1.jpg", "notes.txt"]);
        assert_eq!(std::fs::read(dir.join("kf-1.jpg")).unwrap(), b"new1");
        // A publication cut short (the journal written, some files moved) is finished by the
        // next run that takes the directory.
        let s = Stage::begin(&dir).unwrap();
        for n in ["kf-1.jpg", "kf-2.jpg", "index.json"] {
            std::fs::write(s.path().join(n), format!("next {n}")).unwrap();
        }
        let stage_name = s.path().file_name().unwrap().to_string_lossy().into_owned();
        // As if killed in phase 2: the old files removed, kf-1 moved in.
        std::fs::write(
            dir.join(JOURNAL),
            format!("{stage_name}\nindex.json\n{MOVING}\n"),
        )
        .unwrap();
        std::fs::remove_file(dir.join("index.json")).unwrap();
        std::fs::rename(s.path().join("kf-1.jpg"), dir.join("kf-1.jpg")).unwrap();
        // Killed: the lock goes with the process, the stage stays.
        let mut s = s;
        s.published = true;
        drop(s);
        drop(DirLock::take(&dir).unwrap());
        assert_eq!(
            names(&dir),
            ["index.json", "kf-1.jpg", "kf-2.jpg", "notes.txt"]
        );
        assert_eq!(
            std::fs::read(dir.join("index.json")).unwrap(),
            b"next index.json"
        );
        assert_eq!(
            std::fs::read(dir.join("kf-2.jpg")).unwrap(),
            b"next kf-2.jpg"
        );
        std::fs::remove_file(dir.join("kf-2.jpg")).unwrap();
        // A failed first run into a new directory leaves no directory.
        let fresh = dir.join("fresh");
        drop(Stage::begin(&fresh).unwrap());
        assert!(!fresh.exists());
        // A whole sub-directory.
        let s = Stage::begin(&dir).unwrap();
        std::fs::write(s.path().join("r.json"), b"1").unwrap();
        s.publish_as("sub").unwrap();
        let s = Stage::begin(&dir).unwrap();
        std::fs::write(s.path().join("q.json"), b"2").unwrap();
        s.publish_as("sub").unwrap();
        assert_eq!(names(&dir.join("sub")), ["q.json"]);
        assert_eq!(names(&dir), ["index.json", "kf-1.jpg", "notes.txt", "sub"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
