//! Decoded `AVFrame` -> owned full-range 8-bit [`Yuv`], upright and optionally downscaled.
//!
//! Fast path: 8-bit planar 4:2:0 / 4:2:2 / 4:4:4 frames are copied plane by plane; limited-range
//! ("TV") samples are expanded to full range through a lookup table in the same pass, because
//! JPEG (JFIF) is full range. Every other pixel format (10-bit, NV12, RGB, grey, palettes...)
//! and every downscale goes through libswscale to full-range YUV 4:2:0 in one step. Pictures
//! tagged with another matrix than BT.601 (BT.709...) then get one more pass,
//! `Yuv::to_bt601`, since JPEG's YCbCr is BT.601.
use ff::format::Pixel;
use ff::util::frame::Video as Frame;
use ffmpeg_next as ff;

use crate::image::{Chroma, Matrix, RangeLut, Yuv};

/// Reusable converter: keeps the range tables and a cached swscale context.
pub struct Converter {
    lut: RangeLut,
    scaler: Option<Scaler>,
    rgb_scaler: Option<Scaler>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScalerKey {
    fmt: Pixel,
    dst: Pixel,
    w: u32,
    h: u32,
    dw: u32,
    dh: u32,
    full_range_src: bool,
    /// The frame's AVColorSpace when it is not BT.601 (RGB output only: swscale is told).
    matrix: i32,
}

/// Size after fitting the longest side into `max_side` (aspect kept, at least 1 pixel).
pub fn fit_size(w: u32, h: u32, max_side: Option<u32>) -> (u32, u32) {
    match max_side {
        Some(m) if m > 0 && w.max(h) > m => {
            let s = m as f64 / w.max(h) as f64;
            let nw = ((w as f64 * s).round() as u32).max(1);
            let nh = ((h as f64 * s).round() as u32).max(1);
            (nw, nh)
        }
        _ => (w, h),
    }
}

fn native_chroma(fmt: Pixel) -> Option<(Chroma, bool)> {
    // (layout, full range implied by the format)
    match fmt {
        Pixel::YUV420P => Some((Chroma::C420, false)),
        Pixel::YUVJ420P => Some((Chroma::C420, true)),
        Pixel::YUV422P => Some((Chroma::C422, false)),
        Pixel::YUVJ422P => Some((Chroma::C422, true)),
        Pixel::YUV444P => Some((Chroma::C444, false)),
        Pixel::YUVJ444P => Some((Chroma::C444, true)),
        _ => None,
    }
}

/// The YCbCr matrix of a frame's samples, from its colour-space tag; BT.601 when untagged
/// (what the ffmpeg CLI assumes too) and for pictures that are not YUV.
fn matrix(frame: &Frame) -> Matrix {
    use ff::util::color::Space;
    // SAFETY: the pixel format descriptor of a valid frame's format (static table).
    let yuv = unsafe {
        let d = ff::ffi::av_pix_fmt_desc_get(frame.format().into());
        !d.is_null()
            && (*d).flags & (ff::ffi::AV_PIX_FMT_FLAG_RGB as u64) == 0
            && (*d).nb_components >= 3
    };
    if !yuv {
        return Matrix::BT601;
    }
    match frame.color_space() {
        Space::BT709 => Matrix::BT709,
        Space::BT2020NCL | Space::BT2020CL => Matrix::BT2020,
        Space::SMPTE240M => Matrix::SMPTE240M,
        Space::FCC => Matrix::FCC,
        _ => Matrix::BT601,
    }
}

/// The AVColorSpace value swscale is given for a frame (0: leave swscale's BT.601 default).
fn sws_matrix(frame: &Frame) -> i32 {
    if matrix(frame) == Matrix::BT601 {
        0
    } else {
        ff::ffi::AVColorSpace::from(frame.color_space()) as i32
    }
}

fn is_full_range(frame: &Frame) -> bool {
    matches!(
        frame.format(),
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P
    ) || frame.color_range() == ff::util::color::Range::JPEG
}

/// Copy `rows` rows of `width` bytes from a strided plane, optionally through a LUT.
fn copy_plane(
    src: &[u8],
    stride: usize,
    width: usize,
    rows: usize,
    lut: Option<&[u8; 256]>,
) -> Result<Vec<u8>, String> {
    if stride < width || src.len() < stride * rows.saturating_sub(1) + width {
        return Err(format!(
            "plane too small: {} bytes for {width}x{rows}, stride {stride}",
            src.len()
        ));
    }
    let mut out = Vec::with_capacity(width * rows);
    for r in 0..rows {
        let row = &src[r * stride..r * stride + width];
        match lut {
            Some(t) => out.extend(row.iter().map(|&v| t[v as usize])),
            None => out.extend_from_slice(row),
        }
    }
    Ok(out)
}

impl Default for Converter {
    fn default() -> Self {
        Self::new()
    }
}

impl Converter {
    pub fn new() -> Self {
        Converter {
            lut: RangeLut::new(),
            scaler: None,
            rgb_scaler: None,
        }
    }

    /// Convert a decoded frame to an upright, full-range 8-bit YUV picture whose longest side
    /// is at most `max_side`. `rotation` is in degrees clockwise (0/90/180/270).
    pub(crate) fn convert(
        &mut self,
        frame: &Frame,
        rotation: i32,
        max_side: Option<u32>,
    ) -> Result<Yuv, String> {
        let (w, h) = (frame.width(), frame.height());
        if w == 0 || h == 0 {
            return Err("decoder returned an empty frame".into());
        }
        let (dw, dh) = fit_size(w, h, max_side);
        let quarter_turn = rotation.rem_euclid(180) == 90;
        let native = native_chroma(frame.format())
            .filter(|(c, _)| !(quarter_turn && *c == Chroma::C422))
            .filter(|_| (dw, dh) == (w, h));
        let mut img = match native {
            Some((chroma, _)) => self.copy_native(frame, chroma)?,
            None => self.scale(frame, dw, dh)?,
        };
        // Both paths keep the samples' matrix (swscale converts range only): to BT.601, which
        // JPEG files and RGB conversion assume.
        img.to_bt601(matrix(frame));
        img.rotated(rotation)
            .ok_or_else(|| format!("cannot rotate by {rotation} degrees"))
    }

    /// Convert a decoded frame to packed RGB24 (one libswscale pass: colour conversion and
    /// resize together), upright, stretched to `target` (width, height after rotation) or at
    /// its own size. This is how video frames go to the detectors: no JPEG, no file, no
    /// separate resize.
    pub(crate) fn convert_rgb(
        &mut self,
        frame: &Frame,
        rotation: i32,
        target: Option<(u32, u32)>,
    ) -> Result<crate::still::Rgb, String> {
        let (w, h) = (frame.width(), frame.height());
        if w == 0 || h == 0 {
            return Err("decoder returned an empty frame".into());
        }
        let quarter = rotation.rem_euclid(180) == 90;
        let (dw, dh) = match target {
            Some((tw, th)) if quarter => (th.max(1), tw.max(1)),
            Some((tw, th)) => (tw.max(1), th.max(1)),
            None => (w, h),
        };
        let scaler = Scaler::cached(&mut self.rgb_scaler, frame, Pixel::RGB24, dw, dh)?;
        let (w, h) = (dw as usize, dh as usize);
        let mut data = vec![0u8; w * h * 3];
        // SAFETY: one packed buffer of w * h * 3 bytes, stride w * 3: an RGB24 picture of the
        // scaler's output size.
        unsafe {
            scaler.scale(
                frame,
                [
                    data.as_mut_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                ],
                [(w * 3) as i32, 0, 0, 0],
            )?
        };
        Ok(rotate_rgb(
            crate::still::Rgb {
                width: w,
                height: h,
                data,
            },
            rotation,
        ))
    }

    fn copy_native(&self, frame: &Frame, chroma: Chroma) -> Result<Yuv, String> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let (cw, ch) = chroma.plane_size(w, h);
        let full = is_full_range(frame);
        let (ly, lc) = if full {
            (None, None)
        } else {
            (Some(&self.lut.luma), Some(&self.lut.chroma))
        };
        if frame.planes() < 3 {
            return Err(format!("expected 3 planes, frame has {}", frame.planes()));
        }
        Ok(Yuv {
            width: w,
            height: h,
            chroma,
            y: copy_plane(frame.data(0), frame.stride(0), w, h, ly)?,
            u: copy_plane(frame.data(1), frame.stride(1), cw, ch, lc)?,
            v: copy_plane(frame.data(2), frame.stride(2), cw, ch, lc)?,
        })
    }

    fn scale(&mut self, frame: &Frame, dw: u32, dh: u32) -> Result<Yuv, String> {
        let scaler = Scaler::cached(&mut self.scaler, frame, Pixel::YUV420P, dw, dh)?;
        let (w, h) = (dw as usize, dh as usize);
        let mut out = Yuv::filled(w, h, Chroma::C420, [0, 128, 128]);
        let (cw, _) = out.chroma_size();
        // SAFETY: tightly packed planes of the exact sizes of a w x h yuv420p picture (the
        // scaler's output) with strides w, cw, cw.
        unsafe {
            scaler.scale(
                frame,
                [
                    out.y.as_mut_ptr(),
                    out.u.as_mut_ptr(),
                    out.v.as_mut_ptr(),
                    std::ptr::null_mut(),
                ],
                [w as i32, cw as i32, cw as i32, 0],
            )?
        };
        Ok(out)
    }
}

/// A libswscale context set up through AVOptions before `sws_init_context`, which was the only
/// way range conversion was honoured for high-bit-depth YUV input (FFmpeg 5.1's
/// `sws_setColorspaceDetails` skipped it when the source is not 8-bit; kept for builds with
/// `--features system-ffmpeg`).
struct Scaler {
    key: ScalerKey,
    ctx: *mut ff::ffi::SwsContext,
}

// SAFETY: the context is only used by the thread that owns the Converter.
unsafe impl Send for Scaler {}

impl Scaler {
    /// The scaler kept in `slot`, made anew when the frame's format or size, the output
    /// format or size changed.
    fn cached<'a>(
        slot: &'a mut Option<Scaler>,
        frame: &Frame,
        dst: Pixel,
        dw: u32,
        dh: u32,
    ) -> Result<&'a mut Scaler, String> {
        let key = ScalerKey {
            fmt: frame.format(),
            dst,
            w: frame.width(),
            h: frame.height(),
            dw,
            dh,
            full_range_src: is_full_range(frame),
            matrix: if dst == Pixel::RGB24 {
                sws_matrix(frame)
            } else {
                0
            },
        };
        if slot.as_ref().map(|s| s.key) != Some(key) {
            *slot = Some(Scaler::new(key)?);
        }
        slot.as_mut().ok_or_else(|| "no scaler".to_string())
    }

    /// Scale `frame` (of the size and format the context was made for) into `dst` planes.
    ///
    /// # Safety
    /// `dst` / `stride` must describe writable planes of a picture of the output size and
    /// format of this scaler.
    unsafe fn scale(
        &mut self,
        frame: &Frame,
        dst: [*mut u8; 4],
        stride: [i32; 4],
    ) -> Result<(), String> {
        let f = frame.as_ptr();
        // SAFETY: source pointers/strides from the decoded frame the key was made from; the
        // destination is the caller's promise.
        let ret = unsafe {
            ff::ffi::sws_scale(
                self.ctx,
                (*f).data.as_ptr() as *const *const u8,
                (*f).linesize.as_ptr(),
                0,
                self.key.h as i32,
                dst.as_ptr(),
                stride.as_ptr(),
            )
        };
        if ret <= 0 {
            return Err(format!("swscale failed ({ret})"));
        }
        Ok(())
    }

    fn new(key: ScalerKey) -> Result<Scaler, String> {
        let downscale = key.dw < key.w || key.dh < key.h;
        let mut flags = if downscale {
            ff::ffi::SWS_AREA
        } else {
            ff::ffi::SWS_BICUBIC
        } as i64;
        if key.dst == Pixel::RGB24 {
            // Pictures for models: exact rounding and full chroma interpolation, as
            // `ffmpeg -sws_flags bicubic+accurate_rnd+full_chroma_int` (the detection fixture).
            flags |= (ff::ffi::SWS_ACCURATE_RND | ff::ffi::SWS_FULL_CHR_H_INT) as i64;
        }
        let src_fmt: ff::ffi::AVPixelFormat = key.fmt.into();
        // SAFETY: allocate, configure through the AVOptions API and initialise an SwsContext;
        // freed on every error path and in Drop.
        unsafe {
            let ctx = ff::ffi::sws_alloc_context();
            if ctx.is_null() {
                return Err("out of memory".into());
            }
            let set = |name: &str, v: i64| -> i32 {
                let n = std::ffi::CString::new(name).unwrap_or_default();
                ff::ffi::av_opt_set_int(ctx as *mut _, n.as_ptr(), v, 0)
            };
            let opts = [
                ("srcw", key.w as i64),
                ("srch", key.h as i64),
                ("src_format", src_fmt as i64),
                ("dstw", key.dw as i64),
                ("dsth", key.dh as i64),
                ("dst_format", ff::ffi::AVPixelFormat::from(key.dst) as i64),
                ("sws_flags", flags),
                ("src_range", key.full_range_src as i64),
                ("dst_range", 1),
            ];
            for (name, v) in opts {
                if set(name, v) < 0 {
                    ff::ffi::sws_freeContext(ctx);
                    return Err(format!("swscale rejected option {name}={v}"));
                }
            }
            if ff::ffi::sws_init_context(ctx, std::ptr::null_mut(), std::ptr::null_mut()) < 0 {
                ff::ffi::sws_freeContext(ctx);
                return Err(format!(
                    "swscale cannot convert {:?} {}x{}",
                    key.fmt, key.w, key.h
                ));
            }
            if key.matrix != 0 {
                // The source's YCbCr matrix (swscale assumes BT.601); ranges as set above.
                let r = ff::ffi::sws_setColorspaceDetails(
                    ctx,
                    ff::ffi::sws_getCoefficients(key.matrix),
                    key.full_range_src as i32,
                    ff::ffi::sws_getCoefficients(ff::ffi::SWS_CS_DEFAULT),
                    1,
                    0,
                    1 << 16,
                    1 << 16,
                );
                if r < 0 {
                    ff::ffi::sws_freeContext(ctx);
                    return Err(format!("swscale rejected colour matrix {}", key.matrix));
                }
            }
            Ok(Scaler { key, ctx })
        }
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: ctx was created by sws_alloc_context and is freed once.
        unsafe { ff::ffi::sws_freeContext(self.ctx) }
    }
}

/// Turn packed RGB24 by 90/180/270 degrees clockwise (other values: unchanged).
pub fn rotate_rgb(img: crate::still::Rgb, degrees: i32) -> crate::still::Rgb {
    let q = degrees.rem_euclid(360) / 90;
    if q == 0 || degrees.rem_euclid(90) != 0 {
        return img;
    }
    let (w, h) = (img.width, img.height);
    let (ow, oh) = if q % 2 == 1 { (h, w) } else { (w, h) };
    let mut out = vec![0u8; w * h * 3];
    for oy in 0..oh {
        for ox in 0..ow {
            let (sx, sy) = match q {
                1 => (oy, h - 1 - ox),
                2 => (w - 1 - ox, h - 1 - oy),
                _ => (w - 1 - oy, ox),
            };
            let (o, i) = ((oy * ow + ox) * 3, (sy * w + sx) * 3);
            out[o..o + 3].copy_from_slice(&img.data[i..i + 3]);
        }
    }
    crate::still::Rgb {
        width: ow,
        height: oh,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::fit_size;

    #[test]
    fn rgb_rotation_matches_plane_rotation() {
        use crate::still::Rgb;
        // 3x2 picture, pixel value = index.
        let img = Rgb {
            width: 3,
            height: 2,
            data: (0..18).collect(),
        };
        let r = super::rotate_rgb(img.clone(), 90);
        assert_eq!((r.width, r.height), (2, 3));
        // Top-left of a clockwise turn is the bottom-left of the source (pixel 3).
        assert_eq!(&r.data[0..3], &[9, 10, 11]);
        let back = super::rotate_rgb(super::rotate_rgb(super::rotate_rgb(r, 90), 90), 90);
        assert_eq!(back.data, img.data);
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(fit_size(1920, 1080, Some(640)), (640, 360));
        assert_eq!(fit_size(1080, 1920, Some(640)), (360, 640));
        assert_eq!(fit_size(320, 240, Some(640)), (320, 240));
        assert_eq!(fit_size(4000, 1, Some(100)), (100, 1));
        assert_eq!(fit_size(1920, 1080, None), (1920, 1080));
    }
}
