//! The geometry of DB text detection, as RapidOCR 1.4.4 does it with OpenCV, pyclipper and
//! shapely (PROVENANCE.md §8, step 5): the dilated bitmap, its blobs, their minimum-area
//! rectangles, the box score, the unclip and the reading order. Written from the steps'
//! definitions, not ported: pixel results can differ by a pixel from OpenCV's, which the
//! tests allow for (boxes within 2 px, texts exact).

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pt {
    pub x: f64,
    pub y: f64,
}

fn pt(x: f64, y: f64) -> Pt {
    Pt { x, y }
}

/// Dilation with a 2x2 kernel of ones (OpenCV's anchor for it is (1, 1)): a pixel is set
/// when it or its left, upper or upper-left neighbour is.
pub fn dilate(bits: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut v = bits[y * w + x];
            if x > 0 {
                v |= bits[y * w + x - 1];
            }
            if y > 0 {
                v |= bits[(y - 1) * w + x];
                if x > 0 {
                    v |= bits[(y - 1) * w + x - 1];
                }
            }
            out[y * w + x] = v;
        }
    }
    out
}

/// The 8-connected blobs of a bitmap, in raster order of their first pixel, at most `max`;
/// each as the leftmost and rightmost pixel of each of its rows (the same convex hull as
/// its contour, which is all the boxes need).
pub fn blobs(bits: &[u8], w: usize, h: usize, max: usize) -> Vec<Vec<Pt>> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut pixels: Vec<(usize, usize)> = Vec::new();
    for start in 0..w * h {
        if bits[start] == 0 || seen[start] {
            continue;
        }
        if out.len() >= max {
            break;
        }
        seen[start] = true;
        stack.push(start);
        pixels.clear();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            pixels.push((x, y));
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if bits[j] != 0 && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let y0 = pixels.iter().map(|p| p.1).min().unwrap_or(0);
        let y1 = pixels.iter().map(|p| p.1).max().unwrap_or(0);
        let mut rows = vec![(usize::MAX, 0usize); y1 - y0 + 1];
        for &(x, y) in &pixels {
            let r = &mut rows[y - y0];
            r.0 = r.0.min(x);
            r.1 = r.1.max(x);
        }
        let mut pts = Vec::with_capacity(rows.len() * 2);
        for (k, &(a, b)) in rows.iter().enumerate() {
            let y = (y0 + k) as f64;
            pts.push(pt(a as f64, y));
            if b != a {
                pts.push(pt(b as f64, y));
            }
        }
        out.push(pts);
    }
    out
}

/// Distance between two points.
pub fn dist(a: Pt, b: Pt) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, no repeated points.
pub fn hull(points: &[Pt]) -> Vec<Pt> {
    let mut p: Vec<Pt> = points.to_vec();
    p.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut lower: Vec<Pt> = Vec::new();
    for &q in &p {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], q) <= 0.0 {
            lower.pop();
        }
        lower.push(q);
    }
    let mut upper: Vec<Pt> = Vec::new();
    for &q in p.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], q) <= 0.0 {
            upper.pop();
        }
        upper.push(q);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// The minimum-area rectangle around `points`: its 4 corners and its shorter side
/// (`cv2.minAreaRect` + `cv2.boxPoints`).
pub fn min_area_rect(points: &[Pt]) -> ([Pt; 4], f64) {
    let h = hull(points);
    match h.len() {
        0 => return ([pt(0.0, 0.0); 4], 0.0),
        1 => return ([h[0]; 4], 0.0),
        _ => {}
    }
    let mut best: Option<(f64, [Pt; 4], f64)> = None;
    for i in 0..h.len() {
        let (a, b) = (h[i], h[(i + 1) % h.len()]);
        let len = dist(a, b);
        if len == 0.0 {
            continue;
        }
        let u = pt((b.x - a.x) / len, (b.y - a.y) / len);
        let v = pt(-u.y, u.x);
        let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for q in &h {
            let (pu, pv) = (q.x * u.x + q.y * u.y, q.x * v.x + q.y * v.y);
            u0 = u0.min(pu);
            u1 = u1.max(pu);
            v0 = v0.min(pv);
            v1 = v1.max(pv);
        }
        let area = (u1 - u0) * (v1 - v0);
        if best.as_ref().is_none_or(|b| area < b.0 - 1e-9) {
            let at = |s: f64, t: f64| pt(s * u.x + t * v.x, s * u.y + t * v.y);
            let corners = [at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)];
            best = Some((area, corners, (u1 - u0).min(v1 - v0)));
        }
    }
    match best {
        Some((_, c, side)) => (c, side),
        None => ([h[0]; 4], 0.0),
    }
}

/// RapidOCR's `get_mini_boxes`: the rectangle's corners as top-left, top-right,
/// bottom-right, bottom-left (by its rule: the two leftmost, the upper first), and its
/// shorter side.
pub fn mini_box(points: &[Pt]) -> ([Pt; 4], f64) {
    let (mut c, side) = min_area_rect(points);
    c.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (i1, i4) = if c[1].y > c[0].y { (0, 1) } else { (1, 0) };
    let (i2, i3) = if c[3].y > c[2].y { (2, 3) } else { (3, 2) };
    ([c[i1], c[i2], c[i3], c[i4]], side)
}

/// Mean probability inside the quadrilateral (`box_score_fast`: its vertices truncated to
/// whole pixels inside its clipped bounding rectangle, the polygon filled with its edges).
pub fn box_score(prob: &[f32], w: usize, h: usize, quad: &[Pt; 4]) -> f64 {
    let clampi = |v: f64, hi: usize| (v as i64).clamp(0, hi as i64 - 1) as usize;
    let xmin = clampi(quad.iter().map(|p| p.x).fold(f64::MAX, f64::min).floor(), w);
    let xmax = clampi(quad.iter().map(|p| p.x).fold(f64::MIN, f64::max).ceil(), w);
    let ymin = clampi(quad.iter().map(|p| p.y).fold(f64::MAX, f64::min).floor(), h);
    let ymax = clampi(quad.iter().map(|p| p.y).fold(f64::MIN, f64::max).ceil(), h);
    let v: Vec<Pt> = quad
        .iter()
        .map(|p| {
            pt(
                (p.x - xmin as f64).trunc() + xmin as f64,
                (p.y - ymin as f64).trunc() + ymin as f64,
            )
        })
        .collect();
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in ymin..=ymax {
        let yf = y as f64;
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for i in 0..4 {
            let (a, b) = (v[i], v[(i + 1) % 4]);
            if (a.y <= yf && yf <= b.y) || (b.y <= yf && yf <= a.y) {
                if a.y == b.y {
                    lo = lo.min(a.x.min(b.x));
                    hi = hi.max(a.x.max(b.x));
                } else {
                    let x = a.x + (yf - a.y) * (b.x - a.x) / (b.y - a.y);
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
        }
        if lo > hi {
            continue;
        }
        let x0 = (lo.round().max(xmin as f64)) as usize;
        let x1 = (hi.round().min(xmax as f64)) as usize;
        if x0 <= x1 {
            sum += prob[y * w + x0..=y * w + x1]
                .iter()
                .map(|&p| p as f64)
                .sum::<f64>();
            n += x1 - x0 + 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Grow the box by area × ratio / perimeter on every side, with round corners (pyclipper's
/// JT_ROUND offset of the box's whole-pixel vertices), returned as points on the grown
/// outline for [`mini_box`].
pub fn unclip(quad: &[Pt; 4], ratio: f64) -> Vec<Pt> {
    let mut area = 0.0;
    let mut perimeter = 0.0;
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        area += a.x * b.y - b.x * a.y;
        perimeter += dist(a, b);
    }
    let area = area.abs() / 2.0;
    if perimeter == 0.0 {
        return quad.to_vec();
    }
    let d = area * ratio / perimeter;
    const STEPS: usize = 64;
    let mut out = Vec::with_capacity(4 * STEPS);
    for p in quad {
        let (x, y) = (p.x.trunc(), p.y.trunc());
        for k in 0..STEPS {
            let a = k as f64 * std::f64::consts::TAU / STEPS as f64;
            out.push(pt((x + d * a.cos()).round(), (y + d * a.sin()).round()));
        }
    }
    out
}

/// RapidOCR's `order_points_clockwise`: the two leftmost points (by x; ties in input order)
/// sorted by y give top-left and bottom-left, the other two top-right and bottom-right.
pub fn order_clockwise(q: &[Pt; 4]) -> [Pt; 4] {
    let mut s = *q;
    s.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (mut l, mut r) = ([s[0], s[1]], [s[2], s[3]]);
    l.sort_by(|a, b| a.y.total_cmp(&b.y));
    r.sort_by(|a, b| a.y.total_cmp(&b.y));
    [l[0], r[0], r[1], l[1]]
}

/// Reading order (`sorted_boxes`): by top-left y then x, then neighbours whose top-left y
/// differ by under 10 px are put left to right.
pub fn reading_order<T>(items: &mut [T], top_left: impl Fn(&T) -> Pt) {
    items.sort_by(|a, b| {
        let (p, q) = (top_left(a), top_left(b));
        p.y.total_cmp(&q.y).then(p.x.total_cmp(&q.x))
    });
    for i in 0..items.len().saturating_sub(1) {
        let mut j = i as i64;
        while j >= 0 {
            let (a, b) = (
                top_left(&items[j as usize]),
                top_left(&items[j as usize + 1]),
            );
            if (b.y - a.y).abs() < 10.0 && b.x < a.x {
                items.swap(j as usize, j as usize + 1);
                j -= 1;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_blob_gives_its_box() {
        let (w, h) = (20, 10);
        let mut bits = vec![0u8; w * h];
        for y in 2..6 {
            for x in 3..15 {
                bits[y * w + x] = 1;
            }
        }
        let b = blobs(&bits, w, h, 10);
        assert_eq!(b.len(), 1);
        let (q, side) = mini_box(&b[0]);
        // Pixel centres 3..=14 and 2..=5: OpenCV's contour gives the same 11 x 3 box.
        assert!((side - 3.0).abs() < 1e-9, "{side}");
        assert_eq!((q[0].x.round(), q[0].y.round()), (3.0, 2.0));
        assert_eq!((q[2].x.round(), q[2].y.round()), (14.0, 5.0));
    }

    #[test]
    fn two_blobs_and_a_diagonal_link() {
        let (w, h) = (10, 4);
        let mut bits = vec![0u8; w * h];
        bits[0] = 1;
        bits[w + 1] = 1; // touches diagonally: one blob
        bits[3 * w + 8] = 1;
        assert_eq!(blobs(&bits, w, h, 10).len(), 2);
        assert_eq!(blobs(&bits, w, h, 1).len(), 1);
    }

    #[test]
    fn dilation_grows_right_and_down() {
        let mut bits = vec![0u8; 9];
        bits[4] = 1;
        let d = dilate(&bits, 3, 3);
        assert_eq!(d, vec![0, 0, 0, 0, 1, 1, 0, 1, 1]);
    }

    #[test]
    fn rotated_rectangle() {
        // A 40 x 10 rectangle turned by 30°.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let pts: Vec<Pt> = [(0.0, 0.0), (40.0, 0.0), (40.0, 10.0), (0.0, 10.0)]
            .iter()
            .map(|&(x, y)| pt(100.0 + x * c - y * s, 50.0 + x * s + y * c))
            .collect();
        let (_, side) = min_area_rect(&pts);
        assert!((side - 10.0).abs() < 1e-6);
    }

    #[test]
    fn unclip_grows_each_side() {
        let q = [
            pt(10.7, 10.2),
            pt(50.9, 10.2),
            pt(50.9, 30.8),
            pt(10.7, 30.8),
        ];
        // pyclipper with distance 5 gives x 5..55, y 5..35 for this box (checked in Python).
        // area 40.2 x 20.6, perimeter 121.6: this ratio makes the distance 5.
        let ratio = 5.0 * 121.6 / (40.2 * 20.6);
        let grown = unclip(&q, ratio);
        let (b, side) = mini_box(&grown);
        assert_eq!((b[0].x, b[0].y, b[2].x, b[2].y), (5.0, 5.0, 55.0, 35.0));
        assert_eq!(side, 30.0);
    }

    #[test]
    fn reading_order_puts_a_line_left_to_right() {
        let mut v = vec![pt(300.0, 55.0), pt(30.0, 52.0), pt(10.0, 200.0)];
        reading_order(&mut v, |p| *p);
        assert_eq!(v, vec![pt(30.0, 52.0), pt(300.0, 55.0), pt(10.0, 200.0)]);
        let mut v = vec![pt(30.0, 60.0), pt(300.0, 52.0)];
        reading_order(&mut v, |p| *p);
        assert_eq!(v[0], pt(30.0, 60.0));
    }
}
