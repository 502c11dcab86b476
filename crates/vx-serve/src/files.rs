//! Opening and sending the two kinds of file `vx serve` hands out, so that what is checked is
//! what is sent: the file is opened once (never following a link in its last component,
//! never blocking on a FIFO), checked on its open descriptor (a regular file; for a source,
//! the identity it had when it was indexed), and that very descriptor is sent
//! (`/proc/self/fd/N`), so a file swapped for a link between the check and the read is not
//! what goes out.
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

/// A file opened and checked, ready to send.
#[derive(Debug)]
pub struct Opened {
    file: File,
    /// Its name (what its MIME type is guessed from).
    name: PathBuf,
    len: u64,
}

/// Why a file is not sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Nothing to send there (404).
    NotFound,
    /// A source that is no longer the file that was indexed (410), and how.
    Changed(String),
}

impl Refused {
    pub fn into_response(self) -> Response {
        match self {
            Refused::NotFound => (StatusCode::NOT_FOUND, "not found\n").into_response(),
            Refused::Changed(why) => (
                StatusCode::GONE,
                format!(
                    "the source is not the file that was indexed ({why}): not served; \
                     run `vx index OUTDIR` again to index it as it is now\n"
                ),
            )
                .into_response(),
        }
    }
}

/// Open `path` (canonical) for reading: no link followed in its last component, no wait on
/// a FIFO; a regular file only.
fn open_regular(path: &Path) -> Result<Opened, Refused> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Refused::Changed("now a symbolic link".into()),
            _ => Refused::NotFound,
        })?;
    let meta = file.metadata().map_err(|_| Refused::NotFound)?;
    if !meta.is_file() {
        return Err(Refused::NotFound);
    }
    // What was opened is the file named: no directory on the way was swapped for a link
    // between resolving the name and opening it (O_NOFOLLOW guards the last component only).
    // The descriptor's own path says so; without /proc nothing is served.
    use std::os::fd::AsRawFd;
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) if real == path => {}
        Ok(_) => return Err(Refused::Changed("a directory on its path changed".into())),
        Err(_) => return Err(Refused::NotFound),
    }
    Ok(Opened {
        file,
        name: path.to_path_buf(),
        len: meta.len(),
    })
}

/// A file inside one input's results directory (`dir`, as the index recorded it: canonical),
/// `rel` as decoded from the URL ([`crate::paths::resolve_under`]).
pub fn open_out(dir: &Path, rel: &str) -> Option<Opened> {
    let p = crate::paths::resolve_under(dir, rel)?;
    open_regular(&p).ok()
}

/// An input's source, only while it is the file that was indexed: at the recorded path (no
/// link on the way now, as none was when it was recorded), a regular file with the identity
/// recorded then ([`vx_index::identity`]: size, modification time, inode).
pub fn open_source(path: &Path, recorded: Option<&str>) -> Result<Opened, Refused> {
    let link = std::fs::symlink_metadata(path).map_err(|_| Refused::NotFound)?;
    if link.file_type().is_symlink() {
        return Err(Refused::Changed("now a symbolic link".into()));
    }
    match std::fs::canonicalize(path) {
        Ok(p) if p == path => {}
        Ok(_) => {
            return Err(Refused::Changed(
                "a directory on its path is now a link".into(),
            ))
        }
        Err(_) => return Err(Refused::NotFound),
    }
    let Some(recorded) = recorded else {
        return Err(Refused::Changed(
            "indexed by an earlier vx, without the source's identity".into(),
        ));
    };
    let opened = open_regular(path).map_err(|e| match e {
        Refused::NotFound => Refused::Changed("no longer a regular file".into()),
        e => e,
    })?;
    let meta = opened.file.metadata().map_err(|_| Refused::NotFound)?;
    if vx_index::identity(&meta) != recorded {
        return Err(Refused::Changed(
            "its size, modification time or inode changed".into(),
        ));
    }
    Ok(opened)
}

/// The one byte range of a `Range` header (RFC 9110 14.1.1: `bytes=A-B`, `bytes=A-`,
/// `bytes=-N`; the unit in any case, no whitespace inside), for a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// Not one well-formed range (several, another unit, `bytes=100-50`, spaces inside):
    /// ignored, the whole file (200).
    Ignored,
    /// First and last byte, clamped to the file (a suffix longer than the file is the whole
    /// file, 206).
    Satisfiable(u64, u64),
    /// Past the end, or a suffix of 0 bytes (416).
    Unsatisfiable,
}

pub fn byte_range(value: &str, len: u64) -> ByteRange {
    let v = value.trim_matches([' ', '\t']);
    let Some(spec) = v
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case("bytes="))
        .map(|_| &v[6..])
    else {
        return ByteRange::Ignored;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return ByteRange::Ignored;
    };
    let num = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.len() <= 19 && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    // A zero-length file has no byte to send: the whole (empty) file.
    if len == 0 {
        return ByteRange::Ignored;
    }
    match (a, b) {
        ("", b) => match num(b) {
            None => ByteRange::Ignored,
            Some(0) => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Satisfiable(len.saturating_sub(n), len - 1),
        },
        (a, "") => match num(a) {
            None => ByteRange::Ignored,
            Some(s) if s >= len => ByteRange::Unsatisfiable,
            Some(s) => ByteRange::Satisfiable(s, len - 1),
        },
        (a, b) => match (num(a), num(b)) {
            // A last byte before the first is malformed (ignored), not unsatisfiable.
            (Some(s), Some(e)) if s <= e => {
                if s >= len {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Satisfiable(s, e.min(len - 1))
                }
            }
            _ => ByteRange::Ignored,
        },
    }
}

/// Send an opened file with tower-http (conditional requests, its MIME type), its `Range`
/// decided here ([`byte_range`]) and handed on in the one form tower-http reads the same.
pub async fn send(opened: Opened, mut req: Request) -> Response {
    let range = req.headers().get(header::RANGE).map(|v| {
        v.to_str()
            .map_or(ByteRange::Ignored, |v| byte_range(v, opened.len))
    });
    match range {
        None => {}
        Some(ByteRange::Ignored) => {
            req.headers_mut().remove(header::RANGE);
        }
        Some(ByteRange::Unsatisfiable) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{}", opened.len))],
            )
                .into_response();
        }
        Some(ByteRange::Satisfiable(a, b)) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes={a}-{b}")) {
                req.headers_mut().insert(header::RANGE, v);
            }
        }
    }
    let mime = mime_guess::from_path(&opened.name).first_or_octet_stream();
    // The descriptor checked, not the name again (which may name another file by now).
    let by_fd = {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", opened.file.as_raw_fd()))
    };
    // (open_regular read this descriptor's path: /proc is there.)
    let res = tower_http::services::ServeFile::new_with_mime(by_fd, &mime)
        .oneshot(req)
        .await;
    // tower-http has opened its own descriptor of the same file by now.
    drop(opened);
    match res {
        Ok(res) => res.map(axum::body::Body::new),
        Err(_) => Refused::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        use ByteRange::*;
        let len = 93_000;
        for (v, want) in [
            ("bytes=0-99", Satisfiable(0, 99)),
            ("bytes=100-", Satisfiable(100, len - 1)),
            ("bytes=-500", Satisfiable(len - 500, len - 1)),
            (" bytes=1-2 ", Satisfiable(1, 2)),
            ("Bytes=1-2", Satisfiable(1, 2)),
            // A suffix longer than the file: all of it (14.1.3), not 416.
            ("bytes=-1000000", Satisfiable(0, len - 1)),
            // A last byte past the end: up to the end.
            ("bytes=92000-200000", Satisfiable(92_000, len - 1)),
            ("bytes=93000-", Unsatisfiable),
            ("bytes=93000-93005", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=0-1,5-9", Ignored),
            ("bytes=abc", Ignored),
            ("bytes=", Ignored),
            ("bytes=-", Ignored),
            ("items=0-5", Ignored),
            ("bytes=1-x", Ignored),
            ("bytes=100-50", Ignored),
            // Whitespace inside a range is no range (RFC 9110's grammar has none there).
            ("bytes= 0 - 5 ", Ignored),
            ("bytes=0 -5", Ignored),
            ("bytes=0- 5", Ignored),
            ("bytes =0-5", Ignored),
            ("bytes=99999999999999999999-", Ignored),
        ] {
            assert_eq!(byte_range(v, len), want, "{v:?}");
        }
        assert_eq!(byte_range("bytes=0-5", 0), Ignored);
    }

    #[test]
    fn a_source_is_sent_only_while_it_is_the_file_indexed() {
        let d = std::env::temp_dir().join(format!("vx-serve-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let d = std::fs::canonicalize(&d).unwrap();
        let a = d.join("a.mp4");
        std::fs::write(&a, b"video bytes").unwrap();
        let id = vx_index::identity(&std::fs::metadata(&a).unwrap());
        assert_eq!(open_source(&a, Some(&id)).unwrap().len, 11);
        assert!(matches!(open_source(&a, None), Err(Refused::Changed(_))));
        // Swapped for a link to another file (the tester's /etc/passwd).
        std::fs::rename(&a, d.join("a.real")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &a).unwrap();
        let e = open_source(&a, Some(&id)).unwrap_err();
        assert_eq!(e, Refused::Changed("now a symbolic link".into()));
        // Replaced by another regular file of another size.
        std::fs::remove_file(&a).unwrap();
        std::fs::write(&a, b"other").unwrap();
        assert!(matches!(
            open_source(&a, Some(&id)),
            Err(Refused::Changed(_))
        ));
        std::fs::remove_file(&a).unwrap();
        assert_eq!(open_source(&a, Some(&id)).unwrap_err(), Refused::NotFound);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
