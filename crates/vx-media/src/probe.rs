//! `vx probe`: container and stream metadata, read in-process with libavformat.
//!
//! The schema is documented in docs/OUTPUTS.md; fields that a stream does not have are left
//! out rather than written as `null`.
use std::ffi::CStr;
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;
use serde::Serialize;

use crate::error::{MediaError, Result};

/// Metadata of one media file.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeInfo {
    /// The input, as every other JSON of vx names it.
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    /// The same (the field's first name, kept).
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub path: PathBuf,
    /// Short name(s) of the demuxer, e.g. `"mov,mp4,m4a,3gp,3g2,mj2"`.
    pub container: String,
    pub container_long: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub streams: Vec<StreamInfo>,
}

/// Metadata of one stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamInfo {
    pub index: usize,
    /// `video`, `audio`, `subtitle`, `data`, `attachment` or `unknown`.
    #[serde(rename = "type")]
    pub kind: String,
    pub codec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_long: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub time_base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nb_frames: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    // video
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pix_fmt: Option<String>,
    /// Average frame rate in frames per second (ffprobe's `avg_frame_rate`, or its
    /// `r_frame_rate` when that is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    /// The same rate as the exact fraction FFmpeg keeps, e.g. `"30000/1001"` (what ffprobe
    /// prints as `avg_frame_rate`, or its `r_frame_rate` when the average is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate_fraction: Option<String>,
    /// Degrees the picture must be turned clockwise to display upright (0, 90, 180 or 270),
    /// from the display matrix. This is what the ffmpeg CLI's autorotate applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<i32>,
    /// A single picture attached to the file (an audio file's cover art: ffprobe's
    /// `disposition.attached_pic`), not a video: no frame rate, and the video commands do not
    /// take it as the file's video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached_pic: Option<bool>,
    // audio
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_fmt: Option<String>,
}

pub(crate) fn rational_str(r: ff::Rational) -> String {
    format!("{}/{}", r.numerator(), r.denominator())
}

pub(crate) fn rational_f64(r: ff::Rational) -> Option<f64> {
    if r.denominator() == 0 || r.numerator() == 0 {
        None
    } else {
        Some(r.numerator() as f64 / r.denominator() as f64)
    }
}

/// Seconds for a timestamp in `tb`, or `None` for AV_NOPTS_VALUE.
pub(crate) fn ts_seconds(ts: i64, tb: ff::Rational) -> Option<f64> {
    if ts == ff::ffi::AV_NOPTS_VALUE || tb.denominator() == 0 {
        None
    } else {
        Some(ts as f64 * tb.numerator() as f64 / tb.denominator() as f64)
    }
}

/// Whether `path` names something FFmpeg opens itself rather than a file: `-` (standard
/// input) or an http/https/file URL. Compared as bytes: a name such as "Résumé.mp4" has no
/// character boundary where a prefix ends (slicing the str there panicked).
pub fn is_stream_name(path: &Path) -> bool {
    match path.to_str() {
        Some("-") => true,
        Some(s) => ["http://", "https://", "file:"].iter().any(|p| {
            s.len() > p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        }),
        None => false,
    }
}

#[cfg(test)]
mod names {
    use super::is_stream_name;
    use std::path::Path;

    #[test]
    fn urls_and_names_with_accents() {
        for (name, url) in [
            ("Résumé.mp4", false),
            ("ünï &x.jpg", false),
            ("filé.mp4", false),
            ("éé", false),
            ("http://example.com/a.mp4", true),
            ("HTTPS://example.com/a", true),
            ("file:a.mp4", true),
            ("-", true),
            ("http://", false),
        ] {
            assert_eq!(is_stream_name(Path::new(name)), url, "{name}");
        }
    }
}

/// Open `path` with libavformat and read stream info, mapping failures to typed errors.
pub(crate) fn open_input(path: &Path) -> Result<ff::format::context::Input> {
    if is_stream_name(path) {
        let name = if path.as_os_str() == "-" {
            "pipe:0".to_string()
        } else {
            path.to_string_lossy().into_owned()
        };
        return check_probe(path, open_named(path, Path::new(&name))?);
    }
    let meta = std::fs::metadata(path).map_err(|e| MediaError::io(path, e))?;
    if meta.is_dir() {
        return Err(MediaError::Open {
            path: path.into(),
            reason: "is a directory".into(),
        });
    }
    if meta.is_file() && meta.len() == 0 {
        return Err(MediaError::NotMedia {
            path: path.into(),
            reason: "file is empty".into(),
        });
    }
    // libavformat takes a UTF-8 string: a name that is not UTF-8 (a Latin-1 "café.mp4") is
    // opened here and handed over as /proc/self/fd/N, which libavformat opens again.
    let held;
    let name: std::borrow::Cow<Path> = match path.to_str() {
        Some(_) => path.into(),
        None => {
            use std::os::unix::io::AsRawFd;
            held = std::fs::File::open(path).map_err(|e| MediaError::io(path, e))?;
            PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd())).into()
        }
    };
    check_probe(path, open_named(path, &name)?)
}

/// libavformat's open of `name` (a path or a URL), errors typed for `path`.
fn open_named(path: &Path, name: &Path) -> Result<ff::format::context::Input> {
    ff::format::input(&name).map_err(|e| match e {
        ff::Error::InvalidData => MediaError::NotMedia {
            path: path.into(),
            reason: "unrecognised or corrupt data".into(),
        },
        ff::Error::StreamNotFound => MediaError::NotMedia {
            path: path.into(),
            reason: "no stream information could be read".into(),
        },
        other => MediaError::Open {
            path: path.into(),
            reason: other.to_string(),
        },
    })
}

/// Refuse a demuxer picked on weak evidence.
fn check_probe(path: &Path, ctx: ff::format::context::Input) -> Result<ff::format::context::Input> {
    // A demuxer picked on weak evidence (e.g. a text file taken as "tty" ANSI art because of its
    // extension, or random bytes taken as MP3) is treated as "not media".
    // AVPROBE_SCORE_EXTENSION is 50; FFmpeg itself warns "misdetection possible" at <= 25.
    let score = ctx.probe_score();
    let name = ctx.format().name().to_string();
    if score <= 25 || name == "tty" {
        return Err(MediaError::NotMedia {
            path: path.into(),
            reason: format!("format guess '{name}' is too uncertain (probe score {score}/100)"),
        });
    }
    Ok(ctx)
}

/// Degrees to turn the stream's pictures clockwise for upright display, as the ffmpeg CLI's
/// `get_rotation()` computes it from the display matrix. Returns 0, 90, 180 or 270 (other
/// angles are rounded to the nearest quarter turn).
pub fn display_rotation(stream: &ff::format::stream::Stream) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix {
            if let Some(r) = matrix_rotation(sd.data()) {
                return r;
            }
        }
    }
    0
}

/// The file's video stream: FFmpeg's best one unless that is cover art, else the first video
/// stream that is not (the default one first); None when every video stream is cover art.
pub fn best_video(ictx: &ff::format::context::Input) -> Option<usize> {
    if let Some(s) = ictx.streams().best(ff::media::Type::Video) {
        if !is_attached_pic(&s) {
            return Some(s.index());
        }
    }
    let real: Vec<ff::format::stream::Stream> = ictx
        .streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Video && !is_attached_pic(s))
        .collect();
    real.iter()
        .find(|s| {
            s.disposition()
                .contains(ff::format::stream::Disposition::DEFAULT)
        })
        .or(real.first())
        .map(|s| s.index())
}

/// Matroska written by FFmpeg's own muxer (its "Lavf..." encoder tag): the lengths it writes
/// are end times, the stream's start included (a file cut with -copyts from 4 s says 10 s for
/// 6 s of content; audio delayed by 3 s has a DURATION tag of 14 s for 11 s). Other muxers
/// store lengths.
pub(crate) fn lengths_are_end_times(ictx: &ff::format::context::Input) -> bool {
    ictx.format().name().contains("matroska")
        && ictx
            .metadata()
            .get("encoder")
            .is_some_and(|e| e.starts_with("Lavf"))
}

/// Whether `stream` is a picture attached to the file (cover art), not a video.
pub fn is_attached_pic(stream: &ff::format::stream::Stream) -> bool {
    stream
        .disposition()
        .contains(ff::format::stream::Disposition::ATTACHED_PIC)
}

/// Clockwise degrees (0, 90, 180, 270) to apply to make a picture upright, from a 3x3 display
/// matrix (a stream's, or a still image's EXIF orientation as libavcodec exports it on the
/// frame). `None` for a matrix that is too short; 0 for one that is not a rotation.
pub fn matrix_rotation(data: &[u8]) -> Option<i32> {
    if data.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (i, v) in m.iter_mut().enumerate() {
        let b = [
            data[4 * i],
            data[4 * i + 1],
            data[4 * i + 2],
            data[4 * i + 3],
        ];
        *v = i32::from_ne_bytes(b);
    }
    // SAFETY: `m` is a valid 3x3 display matrix of 9 i32 values.
    let ccw = unsafe { ff::ffi::av_display_rotation_get(m.as_ptr()) };
    if ccw.is_nan() {
        return Some(0);
    }
    let mut theta = -ccw.round();
    theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    let q = ((theta / 90.0).round() as i32).rem_euclid(4);
    Some(q * 90)
}

fn media_kind(t: ff::media::Type) -> &'static str {
    match t {
        ff::media::Type::Video => "video",
        ff::media::Type::Audio => "audio",
        ff::media::Type::Subtitle => "subtitle",
        ff::media::Type::Data => "data",
        ff::media::Type::Attachment => "attachment",
        _ => "unknown",
    }
}

pub(crate) fn codec_name(id: ff::codec::Id) -> String {
    // SAFETY: avcodec_get_name always returns a valid static C string ("unknown_codec" at worst).
    unsafe {
        let p = ff::ffi::avcodec_get_name(id.into());
        if p.is_null() {
            "unknown".into()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Codec name for messages: the FFmpeg name, or the container's codec tag when FFmpeg does
/// not know the codec (e.g. `"unknown (tag VXZZ)"`).
pub(crate) fn codec_label(params: &ff::codec::Parameters) -> String {
    let id = params.id();
    if id != ff::codec::Id::None {
        return codec_name(id);
    }
    // SAFETY: reading a plain field of valid codec parameters.
    let tag = unsafe { (*params.as_ptr()).codec_tag };
    let b = tag.to_le_bytes();
    if tag != 0 && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("unknown (tag {})", String::from_utf8_lossy(&b))
    } else {
        "unknown".into()
    }
}

fn stream_info(stream: &ff::format::stream::Stream) -> StreamInfo {
    let params = stream.parameters();
    let tb = stream.time_base();
    let mut info = StreamInfo {
        index: stream.index(),
        kind: media_kind(params.medium()).into(),
        codec: codec_label(&params),
        time_base: rational_str(tb),
        duration: ts_seconds(stream.duration(), tb),
        start_time: ts_seconds(stream.start_time(), tb),
        nb_frames: Some(stream.frames()).filter(|&n| n > 0),
        language: stream.metadata().get("language").map(str::to_string),
        ..Default::default()
    };
    // SAFETY: the parameters pointer is valid for the lifetime of `stream`; we only read
    // plain fields and call FFmpeg's lookup functions that return static strings.
    unsafe {
        let par = params.as_ptr();
        let desc = ff::ffi::avcodec_descriptor_get((*par).codec_id);
        if !desc.is_null() && !(*desc).long_name.is_null() {
            info.codec_long = Some(
                CStr::from_ptr((*desc).long_name)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        let prof = ff::ffi::avcodec_profile_name((*par).codec_id, (*par).profile);
        if !prof.is_null() {
            info.profile = Some(CStr::from_ptr(prof).to_string_lossy().into_owned());
        }
        if (*par).bit_rate > 0 {
            info.bit_rate = Some((*par).bit_rate);
        }
        match params.medium() {
            ff::media::Type::Video => {
                info.width = Some((*par).width.max(0) as u32);
                info.height = Some((*par).height.max(0) as u32);
                if (*par).format >= 0 {
                    let name = ff::ffi::av_get_pix_fmt_name(std::mem::transmute::<
                        i32,
                        ff::ffi::AVPixelFormat,
                    >((*par).format));
                    if !name.is_null() {
                        info.pix_fmt = Some(CStr::from_ptr(name).to_string_lossy().into_owned());
                    }
                }
                let avg = stream.avg_frame_rate();
                let rate = if rational_f64(avg).is_some() {
                    avg
                } else {
                    stream.rate()
                };
                if is_attached_pic(stream) {
                    info.attached_pic = Some(true);
                } else {
                    info.frame_rate = rational_f64(rate);
                    if info.frame_rate.is_some() {
                        info.frame_rate_fraction = Some(rational_str(rate));
                    }
                }
                info.rotation = Some(display_rotation(stream));
            }
            ff::media::Type::Audio => {
                info.sample_rate = Some((*par).sample_rate.max(0) as u32);
                info.channels = Some((*par).ch_layout.nb_channels.max(0) as u16);
                if (*par).format >= 0 {
                    let name = ff::ffi::av_get_sample_fmt_name(std::mem::transmute::<
                        i32,
                        ff::ffi::AVSampleFormat,
                    >((*par).format));
                    if !name.is_null() {
                        info.sample_fmt = Some(CStr::from_ptr(name).to_string_lossy().into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    info
}

/// Read container and stream metadata of `path`.
pub fn probe(path: &Path) -> Result<ProbeInfo> {
    let ctx = open_input(path)?;
    Ok(probe_ctx(path, &ctx))
}

/// Container and stream metadata of an open file.
pub(crate) fn probe_ctx(path: &Path, ctx: &ff::format::context::Input) -> ProbeInfo {
    let fmt = ctx.format();
    let dur = ctx.duration();
    let size = std::fs::metadata(path).ok().map(|m| m.len());
    // SAFETY: reading plain fields of a valid, open AVFormatContext.
    let (start, bit_rate) = unsafe { ((*ctx.as_ptr()).start_time, (*ctx.as_ptr()).bit_rate) };
    let av_tb = ff::Rational::new(1, ff::ffi::AV_TIME_BASE);
    ProbeInfo {
        source: path.into(),
        path: path.to_path_buf(),
        container: fmt.name().to_string(),
        container_long: fmt.description().to_string(),
        duration: ts_seconds(dur, av_tb).filter(|d| *d >= 0.0),
        start_time: ts_seconds(start, av_tb),
        bit_rate: Some(bit_rate).filter(|&b| b > 0),
        size,
        streams: ctx.streams().map(|s| stream_info(&s)).collect(),
    }
}

/// Let the demuxer drop the packets of stream `index` (`discard`), or read them again.
pub(crate) fn set_discard(ictx: &mut ff::format::context::Input, index: usize, discard: bool) {
    // SAFETY: stream pointers of an open format context; `discard` is a plain field.
    unsafe {
        let fmt = ictx.as_mut_ptr();
        if index < (*fmt).nb_streams as usize {
            (**(*fmt).streams.add(index)).discard = if discard {
                ff::ffi::AVDiscard::AVDISCARD_ALL
            } else {
                ff::ffi::AVDiscard::AVDISCARD_DEFAULT
            };
        }
    }
}

/// Let the demuxer drop the packets of every stream but `index`: they are never handed out,
/// let alone decoded.
pub(crate) fn keep_only_stream(ictx: &mut ff::format::context::Input, index: usize) {
    for i in 0..ictx.nb_streams() as usize {
        set_discard(ictx, i, i != index);
    }
}

/// What reading the next packet gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketRead {
    /// A packet (of any stream) is in the buffer.
    Packet,
    /// Nothing this time (EAGAIN): read again.
    Again,
    /// The demuxer skipped damaged data: read again.
    Invalid,
    Eof,
}

/// Read the next packet into `packet`. av_read_frame() overwrites a packet without releasing
/// what it held, so the old contents are released first (or every packet of the file stays
/// allocated until the end).
pub fn read_packet(
    ictx: &mut ff::format::context::Input,
    packet: &mut ff::Packet,
) -> std::result::Result<PacketRead, ff::Error> {
    use ff::codec::packet::Mut as _;
    // SAFETY: `packet` is a valid AVPacket we own.
    unsafe { ff::ffi::av_packet_unref(packet.as_mut_ptr()) };
    match packet.read(ictx) {
        Ok(()) => Ok(PacketRead::Packet),
        Err(ff::Error::Eof) => Ok(PacketRead::Eof),
        Err(ff::Error::InvalidData) => Ok(PacketRead::Invalid),
        Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
            Ok(PacketRead::Again)
        }
        Err(e) => Err(e),
    }
}
