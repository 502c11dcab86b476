//! `vx serve`: a local web page over a vx search index (docs/INDEX.md, "The web page").
//!
//! One HTTP server (axum on a small tokio runtime) answering:
//!
//! * `/` the search page and `/file/<id>` a page per input (plain HTML, CSS and JavaScript
//!   compiled into the binary: no CDN, no build step);
//! * `/api/search?q=&k=&kind=`, `/api/files`, `/api/file/<id>`: JSON from the index;
//! * `/src/<id>`: an input's source file as it was indexed (with byte ranges, so that a
//!   video element can seek), `/out/<id>/<path>`: a file inside that input's results
//!   directory ([`paths::resolve_under`]: no `..`, no absolute path, no link leading out).
//!
//! Nothing else on disk is reachable, nothing is written, and requests whose `Host` is not
//! the address served (a page on another site reaching a local port through DNS rebinding)
//! are refused unless the server listens on every interface.
pub mod files;
pub mod paths;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use vx_index::{Index, Kind};
use vx_infer::text::TextEmbedder;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const FILE_HTML: &str = include_str!("../assets/file.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Results per search unless `k` says otherwise, and the most a request may ask for.
const DEFAULT_K: usize = 20;
const MAX_K: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The index and the query embedder, used by one search at a time. The vectors are held in
/// memory (an exact scan of 100,000 in ~10 ms instead of reading 150 MB from SQLite per
/// query) and read again when another process has written to the index since.
struct Searcher {
    index: Index,
    embedder: Option<TextEmbedder>,
    /// `data_version` when the vectors were read (None: not yet).
    loaded: Option<i64>,
}

impl Searcher {
    fn fresh_vectors(&mut self) -> Result<(), vx_index::IndexError> {
        let now = self.index.data_version()?;
        if self.loaded != Some(now) {
            self.index.reload()?;
            self.loaded = Some(now);
        }
        Ok(())
    }
}

struct AppState {
    searcher: Mutex<Searcher>,
    /// The Host headers accepted.
    hosts: Hosts,
}

type Shared = Arc<AppState>;

/// Serve `index` on `listen` until SIGINT or SIGTERM. `ready` gets the bound address (the
/// port chosen when `listen` asked for port 0) once requests are accepted. Queries are
/// embedded with `embedder` (None: search by words alone). `workers`: the runtime's threads.
pub fn serve(
    index: Index,
    embedder: Option<TextEmbedder>,
    listen: SocketAddr,
    workers: usize,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .max_blocking_threads(4)
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            searcher: Mutex::new(Searcher {
                index,
                embedder,
                loaded: None,
            }),
            hosts: Hosts::new(addr, listen.ip().is_unspecified()),
        });
        let app = router(state);
        ready(addr);
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped())
            .await?;
        Ok(())
    })
}

/// Which `Host` headers are this server. A page on another site can make a browser send a
/// request here under its own name (DNS rebinding: evil.example resolving to 127.0.0.1); so
/// only names that cannot be rebound are accepted — `localhost`, the address listened on, and
/// on every interface any IP address — with the server's port (80 when the header has none).
#[derive(Debug, Clone)]
struct Hosts {
    port: u16,
    names: Vec<String>,
    any_ip: bool,
}

impl Hosts {
    fn new(addr: SocketAddr, every_interface: bool) -> Hosts {
        let mut names = vec!["localhost".to_string(), ip_name(addr.ip())];
        if addr.ip().is_loopback() {
            names.extend(["127.0.0.1".to_string(), "[::1]".to_string()]);
        }
        Hosts {
            port: addr.port(),
            names,
            any_ip: every_interface,
        }
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        // "name:port", "[v6]:port", or no port (80).
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !n.is_empty() && (n.ends_with(']') || !n.contains(':')) => {
                (n.to_string(), p.parse::<u16>().ok())
            }
            _ => (host.clone(), Some(80)),
        };
        if name.is_empty() || port != Some(self.port) {
            return false;
        }
        if self.names.contains(&name) {
            return true;
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        self.any_ip && bare.parse::<std::net::IpAddr>().is_ok()
    }
}

/// An address as it appears in a Host header (IPv6 in brackets, no zone).
fn ip_name(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    // Connections get a moment to finish; a browser holding a video open never does.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(2));
        std::process::exit(0);
    });
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { html(INDEX_HTML) }))
        .route("/file/{id}", get(|| async { html(FILE_HTML) }))
        .route(
            "/static/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/static/style.css",
            get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/api/search", get(api_search))
        .route("/api/files", get(api_files))
        .route("/api/file/{id}", get(api_file))
        .route("/src/{id}", get(source_file))
        .route("/out/{id}/{*rel}", get(out_file))
        .fallback(|| async { not_found() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Every response: the Host check, no sniffing of types, and a policy that lets the pages
/// load only this server's own scripts, pictures and media.
async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    // RFC 9112 3.2: one Host header, readable; a request without one, or with several, is
    // a bad request (400). The target's own authority (absolute form, `GET http://host/...`)
    // names the host the request is for: checked as Host is.
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let (host, more) = (hosts.next(), hosts.next().is_some());
    let host = match (host.map(|h| h.to_str()), more) {
        (_, true) => return (StatusCode::BAD_REQUEST, "several Host headers\n").into_response(),
        (Some(Err(_)), _) => {
            return (StatusCode::BAD_REQUEST, "a Host header that is not text\n").into_response()
        }
        (None, _) if req.uri().authority().is_none() => {
            return (StatusCode::BAD_REQUEST, "no Host header\n").into_response()
        }
        (None, _) => None,
        (Some(Ok(h)), _) => Some(h),
    };
    let target = req.uri().authority().map(|a| a.as_str());
    if !host.into_iter().chain(target).all(|h| st.hosts.allows(h)) {
        return (StatusCode::FORBIDDEN, "unknown Host\n").into_response();
    }
    // Another site may link to the pages (a navigation), but not load the data, the media or
    // the results files into its own pages (browsers say where a request comes from).
    let (cross_site, navigation) = {
        let is = |name: &str, value: &[u8]| {
            req.headers()
                .get(name)
                .is_some_and(|v| v.as_bytes() == value)
        };
        (
            is("sec-fetch-site", b"cross-site"),
            is("sec-fetch-mode", b"navigate"),
        )
    };
    let (page, sandbox) = {
        let path = req.uri().path();
        (
            path == "/" || path.starts_with("/file/"),
            // Files of a results directory and sources are shown, never run as this
            // origin's pages.
            path.starts_with("/out/") || path.starts_with("/src/"),
        )
    };
    if cross_site && !(navigation && page) {
        return (StatusCode::FORBIDDEN, "cross-site request\n").into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if sandbox {
            "sandbox; default-src 'none'"
        } else {
            "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; \
             frame-ancestors 'none'"
        }),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

fn html(body: &'static str) -> Response {
    asset(body, "text/html; charset=utf-8")
}

fn asset(body: &'static str, mime: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn error(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

/// Run `f` on the searcher on a blocking thread (SQLite and the embedder block).
async fn with_searcher<T: Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&mut Searcher) -> Result<T, vx_index::IndexError> + Send + 'static,
) -> Result<T, Response> {
    let st = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut s = st.searcher.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    })
    .await;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    k: Option<usize>,
    kind: Option<String>,
}

fn parse_kind(s: &str) -> Option<Kind> {
    Some(match s {
        "speech" => Kind::Speech,
        "text" => Kind::Text,
        "object" => Kind::Object,
        "face" => Kind::Face,
        _ => return None,
    })
}

/// Links of one input: its media (`/src/<id>`) when its source is a file, and what kind.
fn media_of(index: &Index, input_id: &str) -> Value {
    let Ok(Some(l)) = index.locate(input_id) else {
        return Value::Null;
    };
    // Playable while it is the file indexed (what `/src/<id>` checks before sending it).
    let playable = l
        .path
        .as_ref()
        .is_some_and(|p| files::open_source(p, l.path_stat.as_deref()).is_ok());
    json!({
        "url": playable.then(|| format!("/src/{}", paths::encode_segment(input_id))),
        "type": paths::media_type(&l.probe),
    })
}

async fn api_search(State(st): State<Shared>, Query(p): Query<SearchParams>) -> Response {
    let q = p.q.unwrap_or_default().trim().to_string();
    if q.is_empty() {
        return error(StatusCode::BAD_REQUEST, "an empty query".into());
    }
    let chars = q.chars().count();
    if chars > vx_index::MAX_QUERY_CHARS {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "a query of {chars} characters: at most {}",
                vx_index::MAX_QUERY_CHARS
            ),
        );
    }
    let kind = match p.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => match parse_kind(k) {
            Some(k) => Some(k),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("kind {k:?}: one of speech, text, object, face"),
                )
            }
        },
    };
    let k = p.k.unwrap_or(DEFAULT_K).clamp(1, MAX_K);
    let query = q.clone();
    let r = with_searcher(&st, move |s| {
        if s.embedder.is_some() {
            s.fresh_vectors()?;
        }
        let t0 = std::time::Instant::now();
        let hits = s.index.search(&query, k, kind, s.embedder.as_mut())?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let mut media_by_input: std::collections::HashMap<String, Value> = Default::default();
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            let mut v = serde_json::to_value(&h).unwrap_or_default();
            let dir = PathBuf::from(&h.dir);
            v["thumb"] = h
                .keyframe
                .as_ref()
                .and_then(|k| paths::out_url(&h.input_id, &dir, k))
                .into();
            v["page"] = format!("/file/{}", paths::encode_segment(&h.input_id)).into();
            let media = media_by_input
                .entry(h.input_id.clone())
                .or_insert_with(|| media_of(&s.index, &h.input_id));
            v["media"] = media.clone();
            out.push(v);
        }
        Ok((out, ms))
    })
    .await;
    match r {
        Ok((hits, ms)) => Json(json!({"query": q, "ms": ms, "hits": hits})).into_response(),
        Err(resp) => resp,
    }
}

async fn api_files(State(st): State<Shared>) -> Response {
    let r = with_searcher(&st, |s| {
        let mut files = s.index.files()?;
        for f in &mut files {
            let id = f["input_id"].as_str().unwrap_or_default().to_string();
            let thumb = s.index.locate(&id)?.and_then(|l| {
                let k = PathBuf::from(f["keyframe"].as_str()?);
                paths::out_url(&id, &l.dir, &k)
            });
            f["thumb"] = thumb.into();
            f["page"] = format!("/file/{}", paths::encode_segment(&id)).into();
        }
        Ok(files)
    })
    .await;
    match r {
        Ok(files) => Json(json!({ "files": files })).into_response(),
        Err(resp) => resp,
    }
}

async fn api_file(State(st): State<Shared>, UrlPath(id): UrlPath<String>) -> Response {
    let r = with_searcher(&st, move |s| {
        let Some(mut d) = s.index.describe(&id)? else {
            return Ok(None);
        };
        // The record found (by input id or by source): its own id for every link.
        let id = d["input_id"].as_str().unwrap_or(&id).to_string();
        let dir = PathBuf::from(d["dir"].as_str().unwrap_or_default());
        let url = |rel: &Value| -> Value {
            rel.as_str()
                .and_then(|r| paths::out_url(&id, &dir, &dir.join(r)))
                .into()
        };
        for k in d["keyframes"].as_array_mut().into_iter().flatten() {
            k["url"] = k["image"]
                .as_str()
                .and_then(|i| paths::out_url(&id, &dir, std::path::Path::new(i)))
                .into();
        }
        for kind in ["text", "objects", "faces"] {
            for it in d[kind].as_array_mut().into_iter().flatten() {
                if !it["keyframe"].is_null() {
                    it["keyframe_url"] = url(&it["keyframe"]);
                }
            }
        }
        d["media"] = media_of(&s.index, &id);
        d["frame"] = match paths::display_size(&d["probe"]) {
            Some((w, h)) => json!({"width": w, "height": h}),
            None => Value::Null,
        };
        d["result_url"] = url(&json!("result.json"));
        Ok(Some(d))
    })
    .await;
    match r {
        Ok(Some(d)) => Json(d).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such input in the index".into()),
        Err(resp) => resp,
    }
}

async fn source_file(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<String>,
    req: Request,
) -> Response {
    // Located at indexing time, media by its probe, and still the file indexed (opened and
    // checked on the blocking thread: file system).
    let found = with_searcher(&st, move |s| {
        let Some(l) = s.index.locate(&id)? else {
            return Ok(Err(files::Refused::NotFound));
        };
        Ok(match (paths::media_type(&l.probe), l.path.as_deref()) {
            (Some(_), Some(p)) => files::open_source(p, l.path_stat.as_deref()),
            _ => Err(files::Refused::NotFound),
        })
    })
    .await;
    match found {
        Ok(Ok(f)) => files::send(f, req).await,
        Ok(Err(refused)) => refused.into_response(),
        Err(resp) => resp,
    }
}

async fn out_file(
    State(st): State<Shared>,
    UrlPath((id, rel)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    let found = with_searcher(&st, move |s| {
        // The recorded directory is OUTDIR/<id> itself (vx index refuses links); one that is
        // not (an index an earlier vx made over a link out of OUTDIR) serves nothing.
        Ok(s.index
            .locate(&id)?
            .filter(|l| l.dir.file_name() == Some(std::ffi::OsStr::new(&id)))
            .and_then(|l| files::open_out(&l.dir, &rel)))
    })
    .await;
    match found {
        Ok(Some(f)) => files::send(f, req).await,
        Ok(None) => not_found(),
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_that_cannot_be_rebound() {
        let local = Hosts::new("127.0.0.1:8080".parse().unwrap(), false);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(local.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "",
            "localhost",
            "10.0.0.5:8080",
            "[::1]",
            ":8080",
        ] {
            assert!(!local.allows(bad), "{bad}");
        }
        let port80 = Hosts::new("127.0.0.1:80".parse().unwrap(), false);
        assert!(port80.allows("localhost") && port80.allows("127.0.0.1"));
        // Every interface: any IP address (a LAN client), still no name but localhost.
        let all = Hosts::new("0.0.0.0:8080".parse().unwrap(), true);
        for ok in [
            "10.0.0.5:8080",
            "[fe80::1]:8080",
            "localhost:8080",
            "0.0.0.0:8080",
        ] {
            assert!(all.allows(ok), "{ok}");
        }
        assert!(!all.allows("evil.example:8080"));
        assert!(!all.allows("10.0.0.5:9999"));
        let v6 = Hosts::new("[::1]:9000".parse().unwrap(), false);
        assert!(v6.allows("[::1]:9000") && v6.allows("localhost:9000"));
    }
}
