//! Owned 8-bit planar YUV images (full range, JFIF/BT.601 as JPEG expects) and the few
//! operations vx needs on them: rotation by quarter turns and conversion to RGB for PNG.

/// Chroma subsampling of a [`Yuv`] image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0: chroma planes are ceil(w/2) x ceil(h/2).
    C420,
    /// 4:2:2: chroma planes are ceil(w/2) x h.
    C422,
    /// 4:4:4: chroma planes are w x h.
    C444,
}

impl Chroma {
    /// log2 of the horizontal and vertical chroma subsampling factors.
    pub fn shifts(self) -> (u32, u32) {
        match self {
            Chroma::C420 => (1, 1),
            Chroma::C422 => (1, 0),
            Chroma::C444 => (0, 0),
        }
    }

    /// Size of a chroma plane for a `w` x `h` picture.
    pub fn plane_size(self, w: usize, h: usize) -> (usize, usize) {
        let (sx, sy) = self.shifts();
        ((w + (1 << sx) - 1) >> sx, (h + (1 << sy) - 1) >> sy)
    }
}

/// A tightly packed, full-range, 8-bit planar YUV picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yuv {
    pub width: usize,
    pub height: usize,
    pub chroma: Chroma,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Yuv {
    /// A picture filled with one colour.
    pub fn filled(width: usize, height: usize, chroma: Chroma, yuv: [u8; 3]) -> Self {
        let (cw, ch) = chroma.plane_size(width, height);
        Yuv {
            width,
            height,
            chroma,
            y: vec![yuv[0]; width * height],
            u: vec![yuv[1]; cw * ch],
            v: vec![yuv[2]; cw * ch],
        }
    }

    /// A moving test pattern (colour bars, a box sliding across, the frame number in binary
    /// along the top) so that consecutive frames differ. Cheap: rows are filled by copying.
    pub fn test_pattern(width: usize, height: usize, chroma: Chroma, frame: u64) -> Self {
        // Full-range (JFIF) YCbCr of white, yellow, cyan, green, magenta, red, blue, black.
        const BARS: [[u8; 3]; 8] = [
            [235, 128, 128],
            [210, 16, 146],
            [170, 166, 16],
            [145, 54, 34],
            [106, 202, 222],
            [81, 90, 240],
            [41, 240, 110],
            [16, 128, 128],
        ];
        let mut img = Yuv::filled(width, height, chroma, [0, 128, 128]);
        let (cw, ch) = img.chroma_size();
        let (sx, sy) = chroma.shifts();
        let bar = |x: usize, w: usize| BARS[(x * 8 / w.max(1)).min(7)];
        let yrow: Vec<u8> = (0..width).map(|x| bar(x, width)[0]).collect();
        let urow: Vec<u8> = (0..cw).map(|x| bar(x << sx, width)[1]).collect();
        let vrow: Vec<u8> = (0..cw).map(|x| bar(x << sx, width)[2]).collect();
        for r in 0..height {
            img.y[r * width..(r + 1) * width].copy_from_slice(&yrow);
        }
        for r in 0..ch {
            img.u[r * cw..(r + 1) * cw].copy_from_slice(&urow);
            img.v[r * cw..(r + 1) * cw].copy_from_slice(&vrow);
        }
        // A grey box sliding left to right, one box width per second at 30 fps.
        let side = (height / 4).max(2).min(width);
        let span = width.saturating_sub(side).max(1);
        let x0 = (frame as usize * side / 30) % span;
        let y0 = (height / 2).saturating_sub(side / 2);
        for r in y0..(y0 + side).min(height) {
            let row = &mut img.y[r * width..(r + 1) * width];
            for (i, v) in row[x0..(x0 + side).min(width)].iter_mut().enumerate() {
                *v = 64 + ((i * 128 / side) as u8);
            }
        }
        for r in (y0 >> sy)..((y0 + side) >> sy).min(ch) {
            for c in (x0 >> sx)..((x0 + side) >> sx).min(cw) {
                img.u[r * cw + c] = 128;
                img.v[r * cw + c] = 128;
            }
        }
        // Frame counter: 24 bits as black/white cells along the top (neutral chroma).
        let cell = (width / 32).max(1);
        for r in 0..(cell.min(height) >> sy).min(ch) {
            img.u[r * cw..(r + 1) * cw].fill(128);
            img.v[r * cw..(r + 1) * cw].fill(128);
        }
        for bit in 0..24usize {
            let on = (frame >> (23 - bit)) & 1 == 1;
            for r in 0..cell.min(height) {
                let start = (bit * cell).min(width);
                let end = ((bit + 1) * cell).min(width);
                img.y[r * width + start..r * width + end].fill(if on { 255 } else { 0 });
            }
        }
        img
    }

    pub fn chroma_size(&self) -> (usize, usize) {
        self.chroma.plane_size(self.width, self.height)
    }

    /// Turn the picture `degrees` clockwise (0, 90, 180 or 270). 4:2:2 pictures can only be
    /// turned by 0 or 180 (a quarter turn of 4:2:2 is 4:4:0, which JPEG encoders handle
    /// poorly): callers convert them to 4:2:0 first. Returns `None` for anything else.
    pub fn rotated(self, degrees: i32) -> Option<Yuv> {
        let quarter = degrees.rem_euclid(360) / 90;
        if degrees.rem_euclid(90) != 0 {
            return None;
        }
        if quarter == 0 {
            return Some(self);
        }
        if quarter % 2 == 1 && self.chroma == Chroma::C422 {
            return None;
        }
        let (cw, ch) = self.chroma_size();
        let y = rotate_plane(&self.y, self.width, self.height, quarter);
        let u = rotate_plane(&self.u, cw, ch, quarter);
        let v = rotate_plane(&self.v, cw, ch, quarter);
        let (width, height) = if quarter % 2 == 1 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        };
        Some(Yuv {
            width,
            height,
            chroma: self.chroma,
            y,
            u,
            v,
        })
    }

    /// Convert to packed RGB24 with the JFIF (full-range BT.601) equations, nearest chroma.
    /// Each channel is Y plus a whole number that depends on the chroma sample only (red on
    /// Cr, blue on Cb, green on both), taken once per sample; for the few samples where that
    /// is not exact (a fraction near a half), red and blue come from lookup tables of the
    /// equations by (Y, Cr) and (Y, Cb) and green from the formula. The result is bit for bit that
    /// of the plain formulas (`to_rgb_reference`, in the tests; checked for all 16.7 million inputs
    /// by a test), several times faster; pictures of a megapixel or more are split across up
    /// to 4 threads.
    pub fn to_rgb(&self) -> Vec<u8> {
        let lut = rgb_lut();
        let (sx, sy) = self.chroma.shifts();
        let (cw, _) = self.chroma_size();
        let w = self.width;
        let mut out = vec![0u8; w * self.height * 3];
        if w == 0 || self.height == 0 {
            return out;
        }
        let rows = |first: usize, chunk: &mut [u8]| {
            for (i, line) in chunk.chunks_exact_mut(w * 3).enumerate() {
                let row = first + i;
                let crow = (row >> sy) * cw;
                let luma = &self.y[row * w..(row + 1) * w];
                let (us, vs) = (&self.u[crow..crow + cw], &self.v[crow..crow + cw]);
                if sx == 1 {
                    rgb_row::<2>(lut, luma, us, vs, line);
                } else {
                    rgb_row::<1>(lut, luma, us, vs, line);
                }
            }
        };
        let threads = if w * self.height >= 1 << 20 {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            1
        };
        if threads <= 1 {
            rows(0, &mut out);
        } else {
            let per = self.height.div_ceil(threads);
            std::thread::scope(|s| {
                for (k, chunk) in out.chunks_mut(per * w * 3).enumerate() {
                    let rows = &rows;
                    s.spawn(move || rows(k * per, chunk));
                }
            });
        }
        out
    }

    /// [`Yuv::to_rgb`] by the plain formulas, per pixel (the reference of its tests).
    #[cfg(test)]
    fn to_rgb_reference(&self) -> Vec<u8> {
        let (sx, sy) = self.chroma.shifts();
        let (cw, _) = self.chroma_size();
        let mut out = vec![0u8; self.width * self.height * 3];
        for row in 0..self.height {
            let crow = (row >> sy) * cw;
            for col in 0..self.width {
                let yv = self.y[row * self.width + col] as f32;
                let ci = crow + (col >> sx);
                let cb = self.u[ci] as f32 - 128.0;
                let cr = self.v[ci] as f32 - 128.0;
                let r = yv + 1.402 * cr;
                let g = yv - 0.344_136 * cb - 0.714_136 * cr;
                let b = yv + 1.772 * cb;
                let o = (row * self.width + col) * 3;
                out[o] = r.round().clamp(0.0, 255.0) as u8;
                out[o + 1] = g.round().clamp(0.0, 255.0) as u8;
                out[o + 2] = b.round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// One row of [`Yuv::to_rgb`], `S` pixels per chroma sample: each channel is Y plus the
/// sample's offset, but for the few samples near a rounding tie.
fn rgb_row<const S: usize>(lut: &RgbLut, luma: &[u8], us: &[u8], vs: &[u8], line: &mut [u8]) {
    let pixel = |p: &mut [u8], y: u8, cb: u8, cr: u8| {
        let (cb8, cr8, y8) = (cb as usize, cr as usize, y as usize);
        p[0] = lut.r[y8 << 8 | cr8];
        p[1] = match lut.g[cb8 << 8 | cr8] {
            NEAR_TIE => green(y as f32, cb, cr).clamp(0.0, 255.0) as u8,
            off => (y as i16 + off).clamp(0, 255) as u8,
        };
        p[2] = lut.b[y8 << 8 | cb8];
    };
    let full = luma.len() / S;
    let (ly, lrest) = luma.split_at(full * S);
    let (lp, prest) = line.split_at_mut(full * S * 3);
    for ((ys, px), (&cb, &cr)) in ly
        .chunks_exact(S)
        .zip(lp.chunks_exact_mut(3 * S))
        .zip(us.iter().zip(vs))
    {
        let (cb8, cr8) = (cb as usize, cr as usize);
        let (ro, go, bo) = (lut.ro[cr8], lut.g[cb8 << 8 | cr8], lut.bo[cb8]);
        if ro == NEAR_TIE || go == NEAR_TIE || bo == NEAR_TIE {
            for (&y, p) in ys.iter().zip(px.chunks_exact_mut(3)) {
                pixel(p, y, cb, cr);
            }
        } else {
            for (&y, p) in ys.iter().zip(px.chunks_exact_mut(3)) {
                let y = y as i16;
                p[0] = (y + ro).clamp(0, 255) as u8;
                p[1] = (y + go).clamp(0, 255) as u8;
                p[2] = (y + bo).clamp(0, 255) as u8;
            }
        }
    }
    // An odd width's last pixel.
    if let (Some(&cb), Some(&cr)) = (us.get(full), vs.get(full)) {
        for (&y, p) in lrest.iter().zip(prest.chunks_exact_mut(3)) {
            pixel(p, y, cb, cr);
        }
    }
}

/// The tables of [`Yuv::to_rgb`]: red by (Y, Cr) and blue by (Y, Cb), computed with the very
/// float operations of the formulas; green's offset from Y by (Cb, Cr), taken at Y = 128
/// where nothing clamps (the rounded green of a given (Cb, Cr) is Y plus a constant).
struct RgbLut {
    r: Vec<u8>,
    b: Vec<u8>,
    g: Vec<i16>,
    /// Red as Y plus an offset by Cr, blue by Cb, where that equals the tables for every Y
    /// (NEAR_TIE where it does not: the tables then).
    ro: [i16; 256],
    bo: [i16; 256],
}

/// In the green table: this (Cb, Cr) rounds near a tie, compute it by the formula.
const NEAR_TIE: i16 = i16::MIN;

/// Green by the formula, unclamped and rounded (the reference of the table).
fn green(y: f32, cb: u8, cr: u8) -> f32 {
    (y - 0.344_136 * (cb as f32 - 128.0) - 0.714_136 * (cr as f32 - 128.0)).round()
}

fn rgb_lut() -> &'static RgbLut {
    static LUT: std::sync::OnceLock<RgbLut> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        let px = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        let mut r = vec![0u8; 256 * 256];
        let mut b = vec![0u8; 256 * 256];
        for y in 0..256usize {
            for c in 0..256usize {
                let d = c as f32 - 128.0;
                r[y << 8 | c] = px(y as f32 + 1.402 * d);
                b[y << 8 | c] = px(y as f32 + 1.772 * d);
            }
        }
        let mut g = vec![0i16; 256 * 256];
        for cb in 0..256usize {
            for cr in 0..256usize {
                let t = 0.344_136 * (cb as f64 - 128.0) + 0.714_136 * (cr as f64 - 128.0);
                g[cb << 8 | cr] = if (t.rem_euclid(1.0) - 0.5).abs() < 1e-3 {
                    NEAR_TIE
                } else {
                    (green(128.0, cb as u8, cr as u8) - 128.0) as i16
                };
            }
        }
        // Red and blue as Y plus an offset, checked against their tables for every Y.
        let offsets = |t: &[u8]| {
            let mut o = [0i16; 256];
            for (c, o) in o.iter_mut().enumerate() {
                // The offset where nothing clamps (some Y always leaves 0 < value < 255).
                let off = (0..256usize)
                    .find(|&y| (1..255).contains(&t[y << 8 | c]))
                    .map_or(0, |y| t[y << 8 | c] as i16 - y as i16);
                let exact =
                    (0..256usize).all(|y| (y as i16 + off).clamp(0, 255) as u8 == t[y << 8 | c]);
                *o = if exact { off } else { NEAR_TIE };
            }
            o
        };
        let (ro, bo) = (offsets(&r), offsets(&b));
        RgbLut { r, b, g, ro, bo }
    })
}

/// A YCbCr matrix by its luma coefficients Kr and Kb (Kg = 1 - Kr - Kb).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matrix {
    pub kr: f32,
    pub kb: f32,
}

impl Matrix {
    /// BT.601 (also BT.470BG, SMPTE 170M): what JPEG/JFIF and [`Yuv::to_rgb`] assume.
    pub const BT601: Matrix = Matrix {
        kr: 0.299,
        kb: 0.114,
    };
    /// BT.709: HD video.
    pub const BT709: Matrix = Matrix {
        kr: 0.2126,
        kb: 0.0722,
    };
    /// BT.2020 (non-constant luminance): UHD video.
    pub const BT2020: Matrix = Matrix {
        kr: 0.2627,
        kb: 0.0593,
    };
    /// SMPTE 240M.
    pub const SMPTE240M: Matrix = Matrix {
        kr: 0.212,
        kb: 0.087,
    };
    /// FCC (the US 1953 NTSC matrix).
    pub const FCC: Matrix = Matrix { kr: 0.30, kb: 0.11 };

    /// Full-range (Y, Cb - 128, Cr - 128) in this matrix to the same colour in `to`.
    fn convert(self, to: Matrix, [y, cb, cr]: [f32; 3]) -> [f32; 3] {
        let r = y + 2.0 * (1.0 - self.kr) * cr;
        let b = y + 2.0 * (1.0 - self.kb) * cb;
        let g = (y - self.kr * r - self.kb * b) / (1.0 - self.kr - self.kb);
        let y2 = to.kr * r + (1.0 - to.kr - to.kb) * g + to.kb * b;
        [
            y2,
            (b - y2) / (2.0 * (1.0 - to.kb)),
            (r - y2) / (2.0 * (1.0 - to.kr)),
        ]
    }
}

impl Yuv {
    /// Re-express a picture whose samples were encoded with `from` in BT.601, the matrix of
    /// JPEG files and of [`Yuv::to_rgb`], so that its colours come out as the source meant
    /// (a BT.709 video read as BT.601 turns saturated green 15 % too bright). Luma takes the
    /// nearest chroma sample's correction. A no-op for BT.601.
    pub fn to_bt601(&mut self, from: Matrix) {
        if from == Matrix::BT601 {
            return;
        }
        let lut = Bt601Lut::of(from);
        let (sx, sy) = self.chroma.shifts();
        let (cw, _) = self.chroma_size();
        for row in 0..self.height {
            let crow = (row >> sy) * cw;
            let luma = &mut self.y[row * self.width..(row + 1) * self.width];
            for (col, yv) in luma.iter_mut().enumerate() {
                let ci = crow + (col >> sx);
                let k = (self.u[ci] as usize) << 8 | self.v[ci] as usize;
                *yv = match lut.luma[k] {
                    NEAR_TIE => lut.luma_exact(*yv, self.u[ci], self.v[ci]),
                    off => (*yv as i16 + off).clamp(0, 255) as u8,
                };
            }
        }
        for (u, v) in self.u.iter_mut().zip(self.v.iter_mut()) {
            let [u2, v2] = lut.chroma[(*u as usize) << 8 | *v as usize];
            (*u, *v) = (u2, v2);
        }
    }
}

/// [`Yuv::to_bt601`]'s tables for one source matrix: the new (Cb, Cr) of every (Cb, Cr), and
/// the luma offset (a whole number) of every (Cb, Cr), or [`NEAR_TIE`] where the offset's
/// fraction is within 0.001 of a half (computed per pixel by the formula). Bit for bit the
/// per-pixel float formulas ([`Bt601Lut::luma_exact`]); ~10x faster than them.
struct Bt601Lut {
    /// Y' = Y + a Cb + b Cr, Cb' = c Cb + d Cr, Cr' = e Cb + f Cr (Cb, Cr centred on 128).
    coef: [f32; 6],
    luma: Vec<i16>,
    chroma: Vec<[u8; 2]>,
}

impl Bt601Lut {
    fn of(from: Matrix) -> std::sync::Arc<Bt601Lut> {
        type Cache = std::sync::Mutex<Vec<((u32, u32), std::sync::Arc<Bt601Lut>)>>;
        static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
        let key = (from.kr.to_bits(), from.kb.to_bits());
        let cache = CACHE.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, l)) = cache.iter().find(|(k, _)| *k == key) {
            return l.clone();
        }
        let lut = std::sync::Arc::new(Bt601Lut::new(from));
        cache.push((key, lut.clone()));
        lut
    }

    fn new(from: Matrix) -> Bt601Lut {
        // The map is linear and leaves grey alone: Y' = Y + a Cb + b Cr, and Cb', Cr' are
        // functions of Cb and Cr only.
        let to = Matrix::BT601;
        let [a, c, e] = from.convert(to, [0.0, 1.0, 0.0]);
        let [b, d, f] = from.convert(to, [0.0, 0.0, 1.0]);
        let px = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        let mut luma = vec![0i16; 256 * 256];
        let mut chroma = vec![[0u8; 2]; 256 * 256];
        for u in 0..256usize {
            for v in 0..256usize {
                let (cb, cr) = (u as f32 - 128.0, v as f32 - 128.0);
                let off = a * cb + b * cr;
                luma[u << 8 | v] = if (off.rem_euclid(1.0) - 0.5).abs() < 1e-3 {
                    NEAR_TIE
                } else {
                    // Y is whole: round(Y + off) = Y + round(off) away from ties.
                    ((128.0 + off).round() - 128.0) as i16
                };
                chroma[u << 8 | v] = [px(128.0 + c * cb + d * cr), px(128.0 + e * cb + f * cr)];
            }
        }
        Bt601Lut {
            coef: [a, b, c, d, e, f],
            luma,
            chroma,
        }
    }

    /// The luma formula, per pixel.
    fn luma_exact(&self, y: u8, u: u8, v: u8) -> u8 {
        let [a, b, ..] = self.coef;
        let (cb, cr) = (u as f32 - 128.0, v as f32 - 128.0);
        (y as f32 + a * cb + b * cr).round().clamp(0.0, 255.0) as u8
    }
}

/// Rotate a `w` x `h` plane by `quarter` quarter turns clockwise (1, 2 or 3).
fn rotate_plane(src: &[u8], w: usize, h: usize, quarter: i32) -> Vec<u8> {
    let mut dst = vec![0u8; w * h];
    match quarter {
        1 => {
            // Output is h wide, w tall: out[r][c] = in[h-1-c][r].
            for r in 0..w {
                let out_row = &mut dst[r * h..(r + 1) * h];
                for (c, o) in out_row.iter_mut().enumerate() {
                    *o = src[(h - 1 - c) * w + r];
                }
            }
        }
        2 => {
            for (i, o) in dst.iter_mut().enumerate() {
                *o = src[w * h - 1 - i];
            }
        }
        3 => {
            // out[r][c] = in[c][w-1-r].
            for r in 0..w {
                let out_row = &mut dst[r * h..(r + 1) * h];
                for (c, o) in out_row.iter_mut().enumerate() {
                    *o = src[c * w + (w - 1 - r)];
                }
            }
        }
        _ => dst.copy_from_slice(src),
    }
    dst
}

/// Lookup tables expanding limited ("TV", MPEG) range to full ("PC", JPEG) range:
/// luma 16..235 -> 0..255, chroma 16..240 -> 0..255 around 128.
pub struct RangeLut {
    pub luma: [u8; 256],
    pub chroma: [u8; 256],
}

impl RangeLut {
    pub fn new() -> Self {
        let mut luma = [0u8; 256];
        let mut chroma = [0u8; 256];
        for i in 0..256 {
            let l = ((i as f32 - 16.0) * 255.0 / 219.0)
                .round()
                .clamp(0.0, 255.0);
            let c = ((i as f32 - 128.0) * 255.0 / 224.0 + 128.0)
                .round()
                .clamp(0.0, 255.0);
            luma[i] = l as u8;
            chroma[i] = c as u8;
        }
        RangeLut { luma, chroma }
    }
}

impl Default for RangeLut {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn green_is_y_plus_a_constant_for_every_input() {
        // The premise of the green table, for all 2^24 (Y, Cb, Cr) but the near ties.
        let lut = rgb_lut();
        let ties = lut.g.iter().filter(|&&g| g == NEAR_TIE).count();
        assert!(ties < 1000, "{ties} near ties");
        for cb in 0..=255u8 {
            for cr in 0..=255u8 {
                let off = lut.g[(cb as usize) << 8 | cr as usize];
                if off == NEAR_TIE {
                    continue;
                }
                for y in 0..=255u8 {
                    let want = green(y as f32, cb, cr).clamp(0.0, 255.0) as u8;
                    let got = (y as i16 + off).clamp(0, 255) as u8;
                    assert_eq!(got, want, "y {y} cb {cb} cr {cr}");
                }
            }
        }
    }

    #[test]
    fn bt601_tables_are_the_formulas_for_every_input() {
        for from in [Matrix::BT709, Matrix::BT2020] {
            let lut = Bt601Lut::of(from);
            let [a, b, ..] = lut.coef;
            for u in 0..=255u8 {
                for v in 0..=255u8 {
                    let off = lut.luma[(u as usize) << 8 | v as usize];
                    for y in 0..=255u8 {
                        let want = (y as f32 + a * (u as f32 - 128.0) + b * (v as f32 - 128.0))
                            .round()
                            .clamp(0.0, 255.0) as u8;
                        let got = match off {
                            NEAR_TIE => lut.luma_exact(y, u, v),
                            off => (y as i16 + off).clamp(0, 255) as u8,
                        };
                        assert_eq!(got, want, "{from:?} y {y} cb {u} cr {v}");
                    }
                }
            }
        }
    }

    #[test]
    fn to_rgb_is_the_formulas_for_every_input() {
        // All 2^24 (Y, Cb, Cr) once each, in one 4:4:4 picture of 4096 x 4096.
        let lut = rgb_lut();
        assert_eq!(lut.ro.iter().filter(|&&o| o == NEAR_TIE).count(), 0);
        assert!(lut.bo.iter().filter(|&&o| o == NEAR_TIE).count() <= 2);
        let mut img = Yuv::filled(4096, 4096, Chroma::C444, [0, 0, 0]);
        for i in 0..1usize << 24 {
            img.y[i] = i as u8;
            img.u[i] = (i >> 8) as u8;
            img.v[i] = (i >> 16) as u8;
        }
        assert!(img.to_rgb() == img.to_rgb_reference());
    }

    #[test]
    fn to_rgb_is_the_formulas_bit_for_bit() {
        // Every (Y, Cb, Cr) combination's neighbourhood, in odd sizes and every layout, and a
        // picture large enough to be split across threads.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for (w, h) in [(1, 1), (7, 5), (33, 17), (1280, 840)] {
            for chroma in [Chroma::C420, Chroma::C422, Chroma::C444] {
                let mut img = Yuv::filled(w, h, chroma, [0, 0, 0]);
                img.y.iter_mut().for_each(|v| *v = next());
                img.u.iter_mut().for_each(|v| *v = next());
                img.v.iter_mut().for_each(|v| *v = next());
                assert!(img.to_rgb() == img.to_rgb_reference(), "{w}x{h} {chroma:?}");
            }
        }
    }

    #[test]
    fn to_bt601_uses_each_pixels_own_chroma() {
        // An odd-sized 4:2:0 and 4:2:2 picture with chroma varying per sample: every pixel
        // against the per-pixel conversion through RGB.
        for chroma in [Chroma::C420, Chroma::C422, Chroma::C444] {
            let (w, h) = (7, 5);
            let (cw, ch) = chroma.plane_size(w, h);
            let mut img = Yuv::filled(w, h, chroma, [0, 0, 0]);
            for (i, y) in img.y.iter_mut().enumerate() {
                *y = (40 + i * 37 % 170) as u8;
            }
            for i in 0..cw * ch {
                img.u[i] = (60 + i * 53 % 140) as u8;
                img.v[i] = (200 - i * 29 % 150) as u8;
            }
            let orig = img.clone();
            img.to_bt601(Matrix::BT709);
            let (sx, sy) = chroma.shifts();
            for r in 0..h {
                for c in 0..w {
                    let ci = (r >> sy) * cw + (c >> sx);
                    let [y, cb, cr] = Matrix::BT709.convert(
                        Matrix::BT601,
                        [
                            orig.y[r * w + c] as f32,
                            orig.u[ci] as f32 - 128.0,
                            orig.v[ci] as f32 - 128.0,
                        ],
                    );
                    let got = img.y[r * w + c] as f32;
                    assert!(
                        (got - y.clamp(0.0, 255.0)).abs() <= 0.51,
                        "{chroma:?} y at {r},{c}"
                    );
                    let (gu, gv) = (img.u[ci] as f32 - 128.0, img.v[ci] as f32 - 128.0);
                    assert!(
                        (gu - cb).abs() <= 0.51 && (gv - cr).abs() <= 0.51,
                        "{chroma:?} c"
                    );
                }
            }
        }
    }

    #[test]
    fn bt709_green_becomes_the_same_green_in_bt601() {
        // Full-range BT.709 YCbCr of pure green (0, 255, 0), per the BT.709 equations.
        let m = Matrix::BT709;
        let y = (1.0 - m.kr - m.kb) * 255.0;
        let cb = -y / (2.0 * (1.0 - m.kb));
        let cr = -y / (2.0 * (1.0 - m.kr));
        let px = |v: f32| v.round() as u8;
        let mut img = Yuv::filled(4, 4, Chroma::C420, [px(y), px(128.0 + cb), px(128.0 + cr)]);
        // Read as BT.601 it is a wrong green; converted, it is green again.
        let wrong = img.to_rgb();
        assert!(
            wrong[1] as i32 - 255 < -5 || wrong[0] > 5,
            "{:?}",
            &wrong[..3]
        );
        img.to_bt601(Matrix::BT709);
        let rgb = img.to_rgb();
        for p in rgb.chunks(3) {
            assert!(p[0] <= 2 && p[1] >= 252 && p[2] <= 2, "{p:?}");
        }
        // Grey stays grey, BT.601 is left alone.
        let mut grey = Yuv::filled(3, 3, Chroma::C444, [90, 128, 128]);
        grey.to_bt601(Matrix::BT2020);
        assert_eq!(grey, Yuv::filled(3, 3, Chroma::C444, [90, 128, 128]));
        let mut same = img.clone();
        same.to_bt601(Matrix::BT601);
        assert_eq!(same, img);
    }

    fn numbered(w: usize, h: usize, chroma: Chroma) -> Yuv {
        let (cw, ch) = chroma.plane_size(w, h);
        Yuv {
            width: w,
            height: h,
            chroma,
            y: (0..w * h).map(|i| i as u8).collect(),
            u: (0..cw * ch).map(|i| i as u8).collect(),
            v: (0..cw * ch).map(|i| (i * 2) as u8).collect(),
        }
    }

    #[test]
    fn quarter_turns_compose() {
        let img = numbered(5, 3, Chroma::C420);
        let r90 = img.clone().rotated(90).unwrap();
        assert_eq!((r90.width, r90.height), (3, 5));
        // Top-left of a clockwise turn is the bottom-left of the source.
        assert_eq!(r90.y[0], img.y[2 * 5]);
        // Top-right of a clockwise turn is the top-left of the source.
        assert_eq!(r90.y[2], img.y[0]);
        let r270 = img.clone().rotated(270).unwrap();
        assert_eq!(r270.y[0], img.y[4]); // top-right of the source
        let back = r90.clone().rotated(270).unwrap();
        assert_eq!(back, img);
        let r180 = r90.rotated(90).unwrap();
        assert_eq!(r180, img.clone().rotated(180).unwrap());
        assert_eq!(r180.y[0], img.y[14]);
        assert!(img.clone().rotated(45).is_none());
        assert!(numbered(4, 4, Chroma::C422).rotated(90).is_none());
    }

    #[test]
    fn test_pattern_moves() {
        let a = Yuv::test_pattern(320, 240, Chroma::C420, 0);
        let b = Yuv::test_pattern(320, 240, Chroma::C420, 15);
        assert_ne!(a.y, b.y);
        assert_eq!(a, Yuv::test_pattern(320, 240, Chroma::C420, 0));
        let _ = Yuv::test_pattern(17, 9, Chroma::C422, 1_000_000);
        let _ = Yuv::test_pattern(1, 1, Chroma::C420, 5);
    }

    #[test]
    fn range_lut_endpoints() {
        let lut = RangeLut::new();
        assert_eq!(lut.luma[16], 0);
        assert_eq!(lut.luma[235], 255);
        assert_eq!(lut.luma[0], 0);
        assert_eq!(lut.luma[255], 255);
        assert_eq!(lut.chroma[128], 128);
        assert!(lut.chroma[16] <= 1);
        assert_eq!(lut.chroma[240], 255);
    }

    #[test]
    fn rgb_of_grey_and_red() {
        let grey = Yuv::filled(2, 2, Chroma::C420, [128, 128, 128]);
        assert!(grey.to_rgb().iter().all(|&v| v == 128));
        // JFIF red: Y=76, Cb=85, Cr=255 -> (254..255, 0, 0)
        let red = Yuv::filled(2, 2, Chroma::C444, [76, 85, 255]);
        let rgb = red.to_rgb();
        assert!(
            rgb[0] >= 253 && rgb[1] <= 2 && rgb[2] <= 2,
            "{:?}",
            &rgb[..3]
        );
    }
}
