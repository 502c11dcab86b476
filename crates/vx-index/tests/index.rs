//! The index on synthetic `vx run` results (no models): what add_input stores, replacing an
//! input, removing gone ones, word search with kinds and nearest keyframes, schema versions.
use std::path::{Path, PathBuf};

use serde_json::json;
use vx_index::{Index, Kind};

struct Tmp(PathBuf);
impl Tmp {
    fn new(name: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("vx-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(p: &Path, v: serde_json::Value) {
    std::fs::write(p, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// OUTDIR/<id>/ as vx run leaves it: result.json, keyframes, a transcript, OCR and detections.
fn input(out: &Path, id: &str, words: &str) -> PathBuf {
    let d = out.join(id);
    std::fs::create_dir_all(&d).unwrap();
    write(
        &d.join("result.json"),
        json!({"source": format!("/media/{id}"), "status": "ok", "duration": 20.0,
               "cache": {"content": "k"},
               "ops": {"keyframes": {"status": "ok"}, "transcribe": {"status": "ok"},
                       "ocr": {"status": "ok"}, "detect": {"status": "ok"},
                       "faces": {"status": "skipped"}}}),
    );
    write(
        &d.join("keyframes.json"),
        json!({"keyframes": [{"time": 0.0, "path": "kf-000000.jpg"}, {"time": 10.0, "path": "kf-000001.jpg"}]}),
    );
    write(
        &d.join("transcribe.json"),
        json!({"segments": [{"start": 1.0, "end": 4.0, "text": " hello there"},
                            {"start": 11.0, "end": 14.5, "text": words}]}),
    );
    write(
        &d.join("ocr.json"),
        json!({"results": [{"time": 10.0, "keyframe": "kf-000001.jpg",
                            "lines": [{"text": "Quarterly Review", "score": 0.99, "box": [[0,0],[1,0],[1,1],[0,1]]}]}]}),
    );
    write(
        &d.join("detect.json"),
        json!({"results": [{"time": 0.0, "detections": [{"label": "bus", "score": 0.9, "box": {"x": 1, "y": 2, "w": 3, "h": 4}}]}]}),
    );
    // A skipped operation's file is not read even if one is there.
    write(
        &d.join("faces.json"),
        json!({"results": [{"detections": [{"label": "face"}]}]}),
    );
    d
}

#[test]
fn inputs_are_stored_replaced_and_searched() {
    let t = Tmp::new("basic");
    let out = t.0.join("out");
    let a = input(&out, "a.mp4-1", "he was not an ill disposed young man");
    let b = input(&out, "b.mp4-2", "the stock market fell");
    let mut idx = Index::open(&out.join("index.db")).unwrap();
    for d in [&a, &b] {
        let added = idx.add_input(d, None).unwrap();
        assert_eq!((added.keyframes, added.items, added.embeddings), (2, 4, 0));
    }
    let (files, kinds) = idx.counts().unwrap();
    assert_eq!(files, 2);
    assert_eq!(
        kinds,
        [
            ("object".to_string(), 2),
            ("speech".to_string(), 4),
            ("text".to_string(), 2)
        ]
    );
    // Words, with the hyphen of a query split as the index splits text.
    let hits = idx.search("ill-disposed", 5, None, None).unwrap();
    assert_eq!(hits[0].source, "/media/a.mp4-1");
    assert_eq!((hits[0].start, hits[0].end), (Some(11.0), Some(14.5)));
    assert_eq!(hits[0].kind, "speech");
    // The keyframe nearest to 11 s is the one at 10 s.
    assert_eq!(hits[0].keyframe.as_ref().unwrap(), &a.join("kf-000001.jpg"));
    // Kinds filter.
    let hits = idx.search("bus", 5, Some(Kind::Object), None).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.kind == "object" && h.text == "bus"));
    assert!(idx
        .search("bus", 5, Some(Kind::Speech), None)
        .unwrap()
        .is_empty());
    let hits = idx
        .search("quarterly review", 5, Some(Kind::Text), None)
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].start, Some(10.0));
    // Re-adding an input replaces its rows (a changed transcript).
    write(
        &a.join("transcribe.json"),
        json!({"segments": [{"start": 2.0, "end": 3.0, "text": "completely different"}]}),
    );
    idx.add_input(&a, None).unwrap();
    assert!(idx.search("disposed", 5, None, None).unwrap().is_empty());
    assert_eq!(idx.search("different", 5, None, None).unwrap().len(), 1);
    // An input gone from the directory is removed.
    assert_eq!(idx.retain(&["b.mp4-2".to_string()]).unwrap(), 1);
    assert_eq!(idx.counts().unwrap().0, 1);
    assert!(idx.search("different", 5, None, None).unwrap().is_empty());
    // Queries with FTS5 syntax in them are words, not syntax.
    idx.search("\"bus\" OR NEAR(x) *", 5, None, None).unwrap();
    assert!(idx.search("---", 5, None, None).unwrap().is_empty());
}

#[test]
fn broken_inputs_and_other_schema_versions_are_errors() {
    let t = Tmp::new("errors");
    let mut idx = Index::open(&t.0.join("index.db")).unwrap();
    let bad = t.0.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("result.json"), b"{not json").unwrap();
    let e = idx.add_input(&bad, None).unwrap_err().to_string();
    assert!(e.contains("result.json"), "{e}");
    assert_eq!(idx.counts().unwrap().0, 0, "nothing half-written");
    drop(idx);
    // A future schema: refused with the way out.
    let c = rusqlite_free_update(&t.0.join("index.db"));
    assert!(c, "updated");
    let e = match Index::open(&t.0.join("index.db")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened an index of another version"),
    };
    assert!(
        e.contains("schema version") && e.contains("vx index"),
        "{e}"
    );
}

#[test]
fn another_sqlite_database_is_not_taken_over() {
    let t = Tmp::new("foreign");
    let db = t.0.join("other.db");
    let ok = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes(x)'); c.commit()",
        ])
        .arg(&db)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok);
    let e = match Index::open(&db) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a foreign database as an index"),
    };
    assert!(e.contains("not a vx index"), "{e}");
}

/// Set meta.schema_version to 99 with the sqlite3 module of Python (no SQLite dev-dependency).
fn rusqlite_free_update(db: &Path) -> bool {
    std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update meta set value='99' where key='schema_version'\"); c.commit()",
        ])
        .arg(db)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Run one statement on an index with Python's sqlite3 (no SQLite dev-dependency here).
fn python_sql(db: &Path, sql: &str) {
    let ok = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
        ])
        .arg(db)
        .arg(sql)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{sql}");
}

#[test]
fn sources_are_located_and_version_1_is_converted_in_place() {
    let t = Tmp::new("locate");
    let out = t.0.join("out");
    // The id names the source's absolute path (its hash), as vx run makes it.
    let id = format!(
        "Cargo.toml-{:08x}",
        vx_image::fsutil::path_hash(Path::new("Cargo.toml"))
    );
    let d = input(&out, &id, "words");
    // A source named relative to the indexing process's directory (this crate's).
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("result.json")).unwrap()).unwrap();
    r["source"] = json!("Cargo.toml");
    write(&d.join("result.json"), r);
    write(
        &d.join("scenes.json"),
        json!({"scenes": [{"index": 0, "start": 0.0, "end": 5.0}, {"index": 1, "start": 5.0, "end": 20.0}]}),
    );
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("result.json")).unwrap()).unwrap();
    r["ops"]["scenes"] = json!({"status": "ok"});
    write(&d.join("result.json"), r);
    input(&out, "gone.mp4-2", "more words");
    let db = t.0.join("index.db");
    let mut idx = Index::open(&db).unwrap();
    idx.add_input(&d, None).unwrap();
    idx.add_input(&out.join("gone.mp4-2"), None).unwrap();
    let l = idx.locate(&id).unwrap().unwrap();
    assert_eq!(l.source, "Cargo.toml");
    assert_eq!(
        l.path.as_deref(),
        Some(std::fs::canonicalize("Cargo.toml").unwrap().as_path())
    );
    assert_eq!(l.dir, std::fs::canonicalize(&d).unwrap());
    // A source that is not there has no path; an unknown id is None.
    assert_eq!(idx.locate("gone.mp4-2").unwrap().unwrap().path, None);
    // Nor has a source that is not the file the id was made from (a result.json naming
    // another file, or a relative name resolved from another directory).
    let other = input(&out, "Cargo.toml-00000000", "other words");
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(other.join("result.json")).unwrap()).unwrap();
    r["source"] = json!("Cargo.toml");
    write(&other.join("result.json"), r);
    idx.add_input(&other, None).unwrap();
    assert_eq!(
        idx.locate("Cargo.toml-00000000").unwrap().unwrap().path,
        None
    );
    idx.retain(&[id.clone(), "gone.mp4-2".to_string()]).unwrap();
    assert!(idx.locate("nope").unwrap().is_none());
    // describe: scenes, and the boxes and keyframes of text and detections.
    let desc = idx.describe(&id).unwrap().unwrap();
    assert_eq!(desc["scenes"].as_array().unwrap().len(), 2, "{desc}");
    assert_eq!(desc["scenes"][1]["start"], 5.0);
    assert_eq!(desc["text"][0]["keyframe"], "kf-000001.jpg", "{desc}");
    assert_eq!(desc["objects"][0]["box"]["w"], 3, "{desc}");
    assert_eq!(desc["objects"][0]["score"], 0.9);
    let files = idx.files().unwrap();
    assert_eq!(files.len(), 2);
    let a = files.iter().find(|f| f["input_id"] == id.as_str()).unwrap();
    assert_eq!(a["items"]["speech"], 2, "{files:?}");
    assert_eq!(a["items"]["object"], 1, "{files:?}");
    drop(idx);
    // A version 1 index (no files.path) is converted when opened, its rows kept.
    python_sql(
        &db,
        "ALTER TABLE files DROP COLUMN path; ALTER TABLE files DROP COLUMN path_stat; \
         UPDATE meta SET value = '1' WHERE key = 'schema_version';",
    );
    let mut idx = Index::open(&db).unwrap();
    assert_eq!(idx.counts().unwrap().0, 2);
    assert_eq!(idx.locate(&id).unwrap().unwrap().path, None);
    assert_eq!(idx.search("words", 5, None, None).unwrap().len(), 2);
    idx.add_input(&d, None).unwrap();
    assert!(idx.locate(&id).unwrap().unwrap().path.is_some());
    drop(idx);
    // Opened again: the current version, nothing to convert.
    let idx = Index::open(&db).unwrap();
    assert_eq!(idx.counts().unwrap().0, 2);
    let stat = idx.locate(&id).unwrap().unwrap().path_stat.unwrap();
    let meta = std::fs::metadata("Cargo.toml").unwrap();
    assert_eq!(stat, vx_index::identity(&meta));
    assert!(stat.starts_with(&format!("size={} ", meta.len())), "{stat}");
    drop(idx);
    // A version 2 index (no files.path_stat): converted, the sources' identities unknown
    // (vx serve plays none of them) until a rebuild.
    python_sql(
        &db,
        "ALTER TABLE files DROP COLUMN path_stat; \
         UPDATE meta SET value = '2' WHERE key = 'schema_version';",
    );
    let mut idx = Index::open(&db).unwrap();
    let l = idx.locate(&id).unwrap().unwrap();
    assert!(l.path.is_some() && l.path_stat.is_none(), "{l:?}");
    idx.add_input(&d, None).unwrap();
    assert!(idx.locate(&id).unwrap().unwrap().path_stat.is_some());
}

/// Input directories and result files that lead out of OUTDIR (links) are refused, never
/// indexed: `vx serve` would have served what they point to.
#[test]
fn links_out_of_the_results_directory_are_refused() {
    let t = Tmp::new("links-out");
    let out = t.0.join("out");
    input(&out, "a.mp4-1", "inside words");
    let outside = input(&t.0.join("elsewhere"), "x", "secret words");
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("evil-00000000")).unwrap();
    // A link that stays inside is no input either (the recorded directory of an input ends
    // in its id, which vx serve checks).
    std::os::unix::fs::symlink(out.join("a.mp4-1"), out.join("alias-1")).unwrap();
    let found = vx_index::input_dirs(&out).unwrap();
    assert_eq!(found.dirs, [out.join("a.mp4-1")]);
    assert_eq!(found.refused.len(), 2, "{:?}", found.refused);
    assert_eq!(found.refused[0].0, out.join("alias-1"));
    assert!(
        found.refused[0].1.contains("of their own"),
        "{:?}",
        found.refused
    );
    assert_eq!(found.refused[1].0, out.join("evil-00000000"));
    assert!(
        found.refused[1].1.contains("outside"),
        "{:?}",
        found.refused
    );
    // add_input (vx run's indexer) refuses it too, naming it and where it leads.
    let mut idx = Index::open(&t.0.join("index.db")).unwrap();
    let e = idx
        .add_input(&out.join("evil-00000000"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("evil-00000000") && e.contains("elsewhere"),
        "{e}"
    );
    // A result.json that is a link out: refused with the file named.
    let b = input(&out, "b.mp4-2", "words");
    std::fs::remove_file(b.join("result.json")).unwrap();
    std::os::unix::fs::symlink(outside.join("result.json"), b.join("result.json")).unwrap();
    let e = idx.add_input(&b, None).unwrap_err().to_string();
    assert!(e.contains("result.json") && e.contains("outside"), "{e}");
    assert_eq!(idx.counts().unwrap().0, 0);
    assert!(idx.search("secret", 5, None, None).unwrap().is_empty());
}

/// What result.json says is there but cannot be read — missing, not JSON, a link to
/// /dev/zero, a FIFO, too large — is left out with one warning each naming the file and
/// the cause; the rest of the input is indexed, and its status is `partial`. Nothing is read
/// from a device or a FIFO (a link to /dev/zero grew memory until the OOM killer; a FIFO
/// hung), nor from a file over the limit.
#[test]
fn unreadable_outputs_are_warned_about_and_never_read() {
    let t = Tmp::new("outputs");
    let out = t.0.join("out");
    let d = input(&out, "a.mp4-1", "the words that stay");
    std::fs::write(d.join("detect.json"), b"{bad").unwrap();
    std::fs::remove_file(d.join("transcribe.json")).unwrap();
    std::fs::remove_file(d.join("ocr.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("ocr.json")).unwrap();
    let fifo = d.join("keyframes.json");
    std::fs::remove_file(&fifo).unwrap();
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("result.json")).unwrap()).unwrap();
    r["ops"]["scenes"] = json!({"status": "ok"});
    write(&d.join("result.json"), r);
    // Sparse: over the limit without a byte written.
    std::fs::File::create(d.join("scenes.json"))
        .unwrap()
        .set_len(vx_index::MAX_JSON_BYTES + 1)
        .unwrap();
    let mut idx = Index::open(&t.0.join("index.db")).unwrap();
    let t0 = std::time::Instant::now();
    let added = idx.add_input(&d, None).unwrap();
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    let w = added.warnings.join("\n");
    assert_eq!(added.warnings.len(), 5, "{w}");
    for (file, cause) in [
        ("detect.json", "key must be a string"),
        ("transcribe.json", "No such file"),
        ("ocr.json", "outside"),
        ("keyframes.json", "FIFO"),
        ("scenes.json", "more than the 256 MiB"),
    ] {
        assert!(
            added
                .warnings
                .iter()
                .any(|l| l.contains(&*d.join(file).to_string_lossy()) && l.contains(cause)),
            "{file}: {cause}: {w}"
        );
    }
    assert_eq!(added.items, 0);
    let f = &idx.files().unwrap()[0];
    assert_eq!(f["status"], "partial", "{f}");
    // A link to /dev/zero inside the directory's own tree is still no regular file.
    std::fs::remove_file(d.join("ocr.json")).unwrap();
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/real.json"), b"{\"results\": []}").unwrap();
    std::os::unix::fs::symlink(d.join("sub/real.json"), d.join("ocr.json")).unwrap();
    let added = idx.add_input(&d, None).unwrap();
    assert!(
        !added.warnings.iter().any(|w| w.contains("ocr.json")),
        "{:?}",
        added.warnings
    );
}

/// A rebuild over a damaged index (not SQLite at all, or truncated) moves it aside, never
/// deleting it, and makes a new one; opening it otherwise says it is damaged and how to
/// rebuild it.
#[test]
fn a_damaged_index_is_moved_aside_by_a_rebuild() {
    let t = Tmp::new("damaged");
    let out = t.0.join("out");
    let d = input(&out, "a.mp4-1", "some words");
    let db = t.0.join("index.db");
    std::fs::write(&db, b"hello not sqlite").unwrap();
    let e = match Index::open(&db) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a text file as an index"),
    };
    assert!(
        e.contains("not a database") && e.contains("vx index OUTDIR"),
        "{e}"
    );
    let (mut idx, aside) = Index::open_rebuild(&db).unwrap();
    assert_eq!(
        aside.as_deref(),
        Some(t.0.join("index.db.damaged").as_path())
    );
    assert_eq!(
        std::fs::read(t.0.join("index.db.damaged")).unwrap(),
        b"hello not sqlite"
    );
    idx.add_input(&d, None).unwrap();
    assert_eq!(idx.search("words", 5, None, None).unwrap().len(), 1);
    drop(idx);
    // Truncated in the middle (its header intact): found by the check, moved aside beside
    // the first one (which is kept).
    let mut big = Index::open(&db).unwrap();
    for i in 0..200 {
        big.add_input(
            &input(&out, &format!("n{i}.mp4-{i}"), "many more words here"),
            None,
        )
        .unwrap();
    }
    drop(big);
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 20_000, "{len}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (idx, aside) = Index::open_rebuild(&db).unwrap();
    assert_eq!(
        aside.as_deref(),
        Some(t.0.join("index.db.damaged-2").as_path())
    );
    assert!(t.0.join("index.db.damaged").is_file());
    assert_eq!(idx.counts().unwrap().0, 0);
    // A sound index is left as it is.
    drop(idx);
    let (idx, aside) = Index::open_rebuild(&db).unwrap();
    assert!(aside.is_none());
    drop(idx);
}

/// An index path that is not a regular file is refused before SQLite opens it (it wrote
/// `/dev/null-journal`).
#[test]
fn an_index_path_that_is_not_a_file_is_refused() {
    let t = Tmp::new("notafile");
    let fifo = t.0.join("fifo.db");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink(t.0.join("nothing"), t.0.join("dangling.db")).unwrap();
    for (p, what) in [
        (Path::new("/dev/null"), "character device"),
        (t.0.as_path(), "directory"),
        (fifo.as_path(), "FIFO"),
        (&*t.0.join("dangling.db"), "link to nothing"),
    ] {
        let e = match Index::open(p) {
            Err(e @ vx_index::IndexError::NotAFile { .. }) => e.to_string(),
            Err(e) => panic!("{}: {e}", p.display()),
            Ok(_) => panic!("{}: opened", p.display()),
        };
        assert!(e.contains(what), "{e}");
    }
    assert!(!t.0.join("nothing").exists() && !t.0.join("fifo.db-journal").exists());
    let e = Index::open_rebuild(Path::new("/dev/null"));
    assert!(matches!(e, Err(vx_index::IndexError::NotAFile { .. })));
}
