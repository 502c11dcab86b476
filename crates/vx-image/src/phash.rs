//! 64-bit DCT perceptual hash of a luma plane (the "pHash" of imagehash/phash.org).
//!
//! 1. Box-average the plane down to 32x32.
//! 2. 2-D DCT-II of that block.
//! 3. Keep the 8x8 lowest frequencies; bit = coefficient > median of those 64.
//!
//! Bits are packed row-major, most significant first. Similar pictures have a small Hamming
//! distance; a brightness/contrast change (e.g. limited vs full range) leaves the hash intact
//! because only the ordering of coefficients against their median matters.
use std::sync::OnceLock;

const N: usize = 32;
const K: usize = 8;

fn cos_table() -> &'static [[f64; N]; K] {
    static T: OnceLock<[[f64; N]; K]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [[0.0; N]; K];
        for (k, row) in t.iter_mut().enumerate() {
            for (n, v) in row.iter_mut().enumerate() {
                *v = (std::f64::consts::PI / N as f64 * (n as f64 + 0.5) * k as f64).cos();
            }
        }
        t
    })
}

/// Box-average a `w` x `h` plane (row stride `stride`) to 32x32.
fn downscale(plane: &[u8], w: usize, h: usize, stride: usize) -> [[f64; N]; N] {
    let mut out = [[0.0; N]; N];
    let bounds = |i: usize, len: usize| {
        let a = i * len / N;
        let b = ((i + 1) * len / N).max(a + 1).min(len);
        (a.min(len - 1), b)
    };
    // Column sums per output column, one row at a time, to touch each pixel once.
    let xb: Vec<(usize, usize)> = (0..N).map(|i| bounds(i, w)).collect();
    for (oy, out_row) in out.iter_mut().enumerate() {
        let (y0, y1) = bounds(oy, h);
        let mut acc = [0u64; N];
        for y in y0..y1 {
            let row = &plane[y * stride..y * stride + w];
            for (ox, &(x0, x1)) in xb.iter().enumerate() {
                acc[ox] += row[x0..x1].iter().map(|&v| v as u64).sum::<u64>();
            }
        }
        for (ox, &(x0, x1)) in xb.iter().enumerate() {
            out_row[ox] = acc[ox] as f64 / ((x1 - x0) * (y1 - y0)) as f64;
        }
    }
    out
}

/// Perceptual hash of an 8-bit plane of `w` x `h` pixels with row stride `stride`.
/// Returns 0 for an empty plane.
pub fn phash(plane: &[u8], w: usize, h: usize, stride: usize) -> u64 {
    if w == 0 || h == 0 || stride < w || plane.len() < stride * (h - 1) + w {
        return 0;
    }
    let px = downscale(plane, w, h, stride);
    let c = cos_table();
    // Rows first: tmp[y][u] = sum_x px[y][x] cos(u, x), for the K lowest u.
    let mut tmp = [[0.0; K]; N];
    for y in 0..N {
        for u in 0..K {
            tmp[y][u] = (0..N).map(|x| px[y][x] * c[u][x]).sum();
        }
    }
    let mut coef = [0.0f64; K * K];
    for v in 0..K {
        for u in 0..K {
            coef[v * K + u] = (0..N).map(|y| tmp[y][u] * c[v][y]).sum();
        }
    }
    let mut sorted = coef;
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = (sorted[K * K / 2 - 1] + sorted[K * K / 2]) / 2.0;
    coef.iter()
        .fold(0u64, |h, &v| (h << 1) | (v > median) as u64)
}

/// Number of differing bits between two hashes.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Lower-case, zero-padded, 16-digit hex form used in JSON outputs.
pub fn to_hex(h: u64) -> String {
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize, f: impl Fn(usize, usize) -> f64) -> Vec<u8> {
        (0..h)
            .flat_map(|y| {
                (0..w).map({
                    let f = &f;
                    move |x| f(x, y).clamp(0.0, 255.0) as u8
                })
            })
            .collect()
    }

    #[test]
    fn identical_and_scaled_images_match() {
        // A textured picture: a few 2-D waves of different orientation.
        let tex = |x: f64, y: f64| {
            128.0
                + 50.0 * (x / 23.0 + y / 31.0).sin()
                + 40.0 * (x / 17.0 - y / 13.0).cos()
                + 25.0 * (y / 9.0).sin() * (x / 41.0).cos()
        };
        let a = gradient(320, 240, |x, y| tex(x as f64, y as f64));
        let ha = phash(&a, 320, 240, 320);
        assert_eq!(ha, phash(&a, 320, 240, 320));
        // Same picture at half the size.
        let b = gradient(160, 120, |x, y| {
            tex(x as f64 * 2.0 + 0.5, y as f64 * 2.0 + 0.5)
        });
        let d = distance(ha, phash(&b, 160, 120, 160));
        assert!(d <= 4, "half size: {d}");
        // Limited-range version (affine luma change) keeps the hash.
        let lim: Vec<u8> = a
            .iter()
            .map(|&v| (16.0 + v as f64 * 219.0 / 255.0).round() as u8)
            .collect();
        let d = distance(ha, phash(&lim, 320, 240, 320));
        assert!(d <= 2, "limited range: {d}");
    }

    #[test]
    fn different_images_differ() {
        let a = gradient(256, 256, |x, _| x as f64);
        let b = gradient(256, 256, |_, y| y as f64);
        let c = gradient(256, 256, |x, y| {
            if (x / 32 + y / 32) % 2 == 0 {
                30.0
            } else {
                220.0
            }
        });
        let (ha, hb, hc) = (
            phash(&a, 256, 256, 256),
            phash(&b, 256, 256, 256),
            phash(&c, 256, 256, 256),
        );
        assert!(distance(ha, hb) > 16, "{}", distance(ha, hb));
        assert!(distance(ha, hc) > 16);
        assert!(distance(hb, hc) > 16);
    }

    #[test]
    fn stride_and_tiny_planes() {
        // A plane with padding gives the same hash as the packed one.
        let packed = gradient(50, 40, |x, y| (x * 5 + y * 3) as f64);
        let mut padded = vec![0u8; 64 * 40];
        for y in 0..40 {
            padded[y * 64..y * 64 + 50].copy_from_slice(&packed[y * 50..y * 50 + 50]);
        }
        assert_eq!(phash(&packed, 50, 40, 50), phash(&padded, 50, 40, 64));
        // Planes smaller than 32x32 and degenerate inputs do not panic.
        let _ = phash(&[1, 2, 3, 4], 2, 2, 2);
        assert_eq!(phash(&[], 0, 0, 0), 0);
        assert_eq!(phash(&[1, 2], 4, 4, 4), 0);
        assert_eq!(to_hex(0xab), "00000000000000ab");
    }
}
