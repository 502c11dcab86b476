//! Harness: libjpeg-turbo (from YUV planes) vs libavcodec's mjpeg encoder on the same decoded
//! key frames. Usage: cargo run --release -p vx-media --example jpeg_encoders -- CLIP [ROUNDS]
//! Prints ms per frame and bytes for each encoder and the ratio. Used by bench/jpeg-encoders.
use std::time::Instant;

use ffmpeg_next as ff;
use vx_media::image::{Chroma, Yuv};
use vx_media::jpeg::Encoder;

fn key_frames(path: &str, max: usize) -> Vec<Yuv> {
    use vx_media::source::{DecodeMode, Decoded, Source, SourceOptions};
    let opts = SourceOptions {
        video: Some(DecodeMode::KeyFrames),
        ..Default::default()
    };
    let mut src = Source::open(std::path::Path::new(path), &opts).expect("open");
    let mut out = Vec::new();
    for d in src.by_ref() {
        if let Decoded::Video(f) = d {
            out.push(f.to_yuv(None).unwrap());
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

/// libavcodec mjpeg with a fixed qscale (2 = high quality, like -q:v 2).
fn mjpeg(frames: &[Yuv], qscale: i32) -> (f64, usize) {
    let codec = ff::encoder::find(ff::codec::Id::MJPEG).unwrap();
    let (w, h) = (frames[0].width as u32, frames[0].height as u32);
    let mut ctx = ff::codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .unwrap();
    ctx.set_width(w);
    ctx.set_height(h);
    ctx.set_format(ff::format::Pixel::YUVJ420P);
    ctx.set_time_base((1, 25));
    ctx.set_flags(ff::codec::Flags::QSCALE);
    let mut enc = ctx.open_as(codec).unwrap();
    let mut av = ff::util::frame::Video::new(ff::format::Pixel::YUVJ420P, w, h);
    let mut pkt = ff::Packet::empty();
    let mut bytes = 0;
    let t = Instant::now();
    for (i, f) in frames.iter().enumerate() {
        // Copying the planes into the AVFrame is part of the cost of this path.
        let (cw, ch) = f.chroma_size();
        for (plane, src, pw, ph) in [
            (0, &f.y, f.width, f.height),
            (1, &f.u, cw, ch),
            (2, &f.v, cw, ch),
        ] {
            let stride = av.stride(plane);
            let dst = av.data_mut(plane);
            for r in 0..ph {
                dst[r * stride..r * stride + pw].copy_from_slice(&src[r * pw..(r + 1) * pw]);
            }
        }
        av.set_pts(Some(i as i64));
        // SAFETY: plain field write on an owned frame.
        unsafe { (*av.as_mut_ptr()).quality = qscale * ff::ffi::FF_QP2LAMBDA };
        enc.send_frame(&av).unwrap();
        while enc.receive_packet(&mut pkt).is_ok() {
            bytes += pkt.size();
        }
    }
    enc.send_eof().unwrap();
    while enc.receive_packet(&mut pkt).is_ok() {
        bytes += pkt.size();
    }
    (
        t.elapsed().as_secs_f64() * 1000.0 / frames.len() as f64,
        bytes / frames.len(),
    )
}

fn turbo(frames: &[Yuv], quality: u8) -> (f64, usize) {
    let mut enc = Encoder::new(quality).unwrap();
    let mut bytes = 0;
    let t = Instant::now();
    for f in frames {
        bytes += enc.jpeg(f).unwrap().len();
    }
    (
        t.elapsed().as_secs_f64() * 1000.0 / frames.len() as f64,
        bytes / frames.len(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clip = args.get(1).expect("usage: jpeg_encoders CLIP [ROUNDS]");
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    vx_media::init(vx_media::FfmpegLog::Quiet);
    let frames = key_frames(clip, 10);
    assert!(
        frames.iter().all(|f| f.chroma == Chroma::C420),
        "benchmark expects 4:2:0 input"
    );
    println!(
        "{} key frames of {}x{} from {clip}",
        frames.len(),
        frames[0].width,
        frames[0].height
    );
    for (label, q_turbo, q_av) in [("high quality", 95u8, 2), ("default-ish", 90, 4)] {
        let mut t = Vec::new();
        let mut m = Vec::new();
        for _ in 0..rounds {
            t.push(turbo(&frames, q_turbo));
            m.push(mjpeg(&frames, q_av));
        }
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
        m.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (tm, mm) = (t[rounds / 2], m[rounds / 2]);
        println!(
            "{label}: libjpeg-turbo q{q_turbo}: {:.2} ms/frame, {} KiB | libavcodec mjpeg qscale {q_av}: {:.2} ms/frame, {} KiB | ratio turbo/mjpeg {:.2}",
            tm.0, tm.1 / 1024, mm.0, mm.1 / 1024, tm.0 / mm.0
        );
    }
}
