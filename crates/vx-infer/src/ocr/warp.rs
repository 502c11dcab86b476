//! Picture operations of the OCR pipeline on packed 8-bit RGB: OpenCV's bilinear resize
//! (`cv2.resize`, half-pixel centres, 11-bit fixed-point weights), the perspective crop of
//! a text box (`cv2.warpPerspective`, bicubic with a = -0.75, replicated border), the turns
//! by 90° and 180°, and the normalised BGR tensor the three networks take.
use super::geom::Pt;

/// A packed RGB24 picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Img {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Img {
    pub fn new(width: usize, height: usize) -> Img {
        Img {
            width,
            height,
            data: vec![0; width * height * 3],
        }
    }

    fn at(&self, x: usize, y: usize) -> &[u8] {
        let i = (y * self.width + x) * 3;
        &self.data[i..i + 3]
    }
}

const COEF_BITS: u32 = 11;
const COEF_ONE: i32 = 1 << COEF_BITS;

/// For each output position: the two source indexes and their weights (of `COEF_ONE`),
/// OpenCV's way: the scale as 1 / (dst / src), each weight rounded on its own, edges clamped.
fn linear_taps(src: usize, dst: usize) -> Vec<(usize, usize, i32, i32)> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut frac = f - s as f32;
            if s < 0 {
                s = 0;
                frac = 0.0;
            }
            if s >= src as i64 - 1 {
                s = src as i64 - 1;
                frac = 0.0;
            }
            let w0 = ((1.0 - frac) * COEF_ONE as f32).round_ties_even() as i32;
            let w1 = (frac * COEF_ONE as f32).round_ties_even() as i32;
            let s = s as usize;
            (s, (s + 1).min(src - 1), w0, w1)
        })
        .collect()
}

/// Bilinear resize to `w` x `h` (`cv2.resize` with its default INTER_LINEAR).
pub fn resize(img: &Img, w: usize, h: usize) -> Img {
    let mut out = Img::new(w, h);
    if img.width == 0 || img.height == 0 || w == 0 || h == 0 {
        return out;
    }
    let xs = linear_taps(img.width, w);
    let ys = linear_taps(img.height, h);
    let mut row0 = vec![0i32; w * 3];
    let mut row1 = vec![0i32; w * 3];
    let horizontal = |y: usize, row: &mut [i32]| {
        let line = &img.data[y * img.width * 3..(y + 1) * img.width * 3];
        for (i, &(a, b, wa, wb)) in xs.iter().enumerate() {
            for c in 0..3 {
                row[i * 3 + c] = line[a * 3 + c] as i32 * wa + line[b * 3 + c] as i32 * wb;
            }
        }
    };
    let mut have = (usize::MAX, usize::MAX);
    for (y, &(a, b, wa, wb)) in ys.iter().enumerate() {
        if have.0 != a {
            if have.1 == a {
                std::mem::swap(&mut row0, &mut row1);
            } else {
                horizontal(a, &mut row0);
            }
        }
        if have.1 != b || have.0 != a {
            horizontal(b, &mut row1);
        }
        have = (a, b);
        let dst = &mut out.data[y * w * 3..(y + 1) * w * 3];
        for i in 0..w * 3 {
            // OpenCV's vector code: 16-bit high products of the rows shifted by 4, then
            // rounded by 2 bits.
            let a = (wa * (row0[i] >> 4)) >> 16;
            let b = (wb * (row1[i] >> 4)) >> 16;
            dst[i] = ((a + b + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    out
}

/// The 3x3 homography taking the `w` x `h` rectangle's corners (0,0), (w,0), (w,h), (0,h)
/// to `quad`; None when the quadrilateral is degenerate.
fn rect_to_quad(w: f64, h: f64, quad: &[Pt; 4]) -> Option<[f64; 9]> {
    let src = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    // Solve the 8 unknowns of the homography (h33 = 1) by Gaussian elimination.
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = src[i];
        let (u, v) = (quad[i].x, quad[i].y);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut m = [0f64; 9];
    for i in 0..8 {
        m[i] = a[i][8] / a[i][i];
    }
    m[8] = 1.0;
    Some(m)
}

/// OpenCV's bicubic weights (a = -0.75) for a fraction in [0, 1).
fn cubic(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

/// The text box `quad` (top-left, top-right, bottom-right, bottom-left) of `img`, straightened
/// into a `w` x `h` picture (`cv2.warpPerspective`, INTER_CUBIC, BORDER_REPLICATE; source
/// positions in steps of 1/32 pixel as OpenCV's tables have them).
pub fn warp_quad(img: &Img, quad: &[Pt; 4], w: usize, h: usize) -> Img {
    let mut out = Img::new(w, h);
    let Some(m) = rect_to_quad(w as f64, h as f64, quad) else {
        return out;
    };
    if img.width == 0 || img.height == 0 {
        return out;
    }
    let (iw, ih) = (img.width as i64, img.height as i64);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let d = m[6] * xf + m[7] * yf + m[8];
            let d = if d != 0.0 { 32.0 / d } else { 0.0 };
            let sx = ((m[0] * xf + m[1] * yf + m[2]) * d).round() as i64;
            let sy = ((m[3] * xf + m[4] * yf + m[5]) * d).round() as i64;
            let (ix, iy) = (sx >> 5, sy >> 5);
            let wx = cubic((sx & 31) as f32 / 32.0);
            let wy = cubic((sy & 31) as f32 / 32.0);
            let mut acc = [0f32; 3];
            for (j, wyj) in wy.iter().enumerate() {
                let yy = (iy + j as i64 - 1).clamp(0, ih - 1) as usize;
                for (i, wxi) in wx.iter().enumerate() {
                    let xx = (ix + i as i64 - 1).clamp(0, iw - 1) as usize;
                    let p = img.at(xx, yy);
                    let k = wyj * wxi;
                    for (a, &v) in acc.iter_mut().zip(p) {
                        *a += v as f32 * k;
                    }
                }
            }
            let o = (y * w + x) * 3;
            for (d, a) in out.data[o..o + 3].iter_mut().zip(acc) {
                *d = a.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Turned 90° counter-clockwise (`np.rot90`).
pub fn rot90(img: &Img) -> Img {
    let (w, h) = (img.width, img.height);
    let mut out = Img::new(h, w);
    for oy in 0..w {
        for ox in 0..h {
            let p = img.at(w - 1 - oy, ox);
            let o = (oy * h + ox) * 3;
            out.data[o..o + 3].copy_from_slice(p);
        }
    }
    out
}

/// Turned 180°.
pub fn rot180(img: &Img) -> Img {
    let mut out = img.clone();
    let n = img.width * img.height;
    for i in 0..n {
        let j = n - 1 - i;
        out.data[i * 3..i * 3 + 3].copy_from_slice(&img.data[j * 3..j * 3 + 3]);
    }
    out
}

/// Write `img` into a `[3, rows, stride]` planar BGR tensor slot normalised to [-1, 1]
/// (`(v / 255 - 0.5) / 0.5`); columns past the picture keep what `dst` holds (zeros).
pub fn to_tensor(img: &Img, dst: &mut [f32], stride: usize, rows: usize) {
    let plane = rows * stride;
    for y in 0..img.height.min(rows) {
        for x in 0..img.width.min(stride) {
            let p = img.at(x, y);
            for (c, &v) in [p[2], p[1], p[0]].iter().enumerate() {
                dst[c * plane + y * stride + x] = (v as f32 / 255.0 - 0.5) / 0.5;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Img {
        let mut img = Img::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let o = (y * w + x) * 3;
                img.data[o] = (x * 10) as u8;
                img.data[o + 1] = (y * 10) as u8;
                img.data[o + 2] = 7;
            }
        }
        img
    }

    #[test]
    fn resize_same_size_is_identity() {
        let img = ramp(13, 7);
        assert_eq!(resize(&img, 13, 7), img);
    }

    #[test]
    fn resize_doubles_a_ramp_smoothly() {
        let img = ramp(4, 2);
        let big = resize(&img, 8, 4);
        // Half-pixel centres: output x 1 maps to source 0.25, between 0 and 10.
        let r: Vec<u8> = (0..8).map(|x| big.data[x * 3]).collect();
        assert_eq!(r, vec![0, 3, 8, 13, 18, 23, 28, 30]);
    }

    #[test]
    fn warp_of_an_axis_aligned_box_is_a_crop() {
        let img = ramp(20, 20);
        let q = [
            Pt { x: 5.0, y: 3.0 },
            Pt { x: 15.0, y: 3.0 },
            Pt { x: 15.0, y: 9.0 },
            Pt { x: 5.0, y: 9.0 },
        ];
        let c = warp_quad(&img, &q, 10, 6);
        for y in 0..6 {
            for x in 0..10 {
                assert_eq!(c.at(x, y), img.at(x + 5, y + 3), "{x},{y}");
            }
        }
    }

    #[test]
    fn turns() {
        let img = ramp(3, 2);
        let r = rot90(&img);
        assert_eq!((r.width, r.height), (2, 3));
        // The top-right pixel comes to the top-left.
        assert_eq!(r.at(0, 0), img.at(2, 0));
        assert_eq!(r.at(0, 2), img.at(0, 0));
        assert_eq!(rot180(&rot180(&img)), img);
        assert_eq!(rot180(&img).at(0, 0), img.at(2, 1));
    }
}
