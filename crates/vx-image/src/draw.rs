//! Drawing detections on packed RGB24 pictures: box outlines and labels (8x8 bitmap font from
//! the `font8x8` crate, scaled), so people can look instead of read.

/// A box to draw, in pixels, with its caption and colour.
#[derive(Debug, Clone)]
pub struct Mark {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub caption: String,
    pub color: [u8; 3],
    /// Points to mark (face landmarks), in pixels.
    pub points: Vec<[f32; 2]>,
}

/// A distinct, bright colour for a class id.
pub fn color_for(class_id: u32) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [255, 56, 56],
        [255, 157, 151],
        [255, 112, 31],
        [255, 178, 29],
        [207, 210, 49],
        [72, 249, 10],
        [26, 147, 52],
        [0, 212, 187],
        [52, 69, 147],
        [255, 55, 199],
    ];
    PALETTE[class_id as usize % PALETTE.len()]
}

/// A packed RGB24 picture being drawn on; everything is clipped to it.
struct Canvas<'a> {
    rgb: &'a mut [u8],
    width: usize,
    height: usize,
}

impl Canvas<'_> {
    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        let (w, h) = (self.width as i64, self.height as i64);
        let (x0, x1) = (x0.clamp(0, w) as usize, x1.clamp(0, w) as usize);
        let (y0, y1) = (y0.clamp(0, h) as usize, y1.clamp(0, h) as usize);
        for y in y0..y1 {
            for x in x0..x1 {
                let o = (y * self.width + x) * 3;
                self.rgb[o..o + 3].copy_from_slice(&c);
            }
        }
    }

    /// Draw `s` with its top-left corner at (x, y), each font pixel `scale` pixels wide.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
        for (i, ch) in s.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY
                .get(ch as usize)
                .copied()
                .unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        let px = x + (i as i64 * 8 + col) * scale;
                        let py = y + row as i64 * scale;
                        self.fill(px, py, px + scale, py + scale, c);
                    }
                }
            }
        }
    }
}

/// Draw each mark: an outline, its points (small squares), and its caption on a bar of the
/// same colour above the box (inside it when the box touches the top edge). Captions are
/// drawn after every outline, kept inside the picture (moved left at the right edge) and
/// moved down past captions already placed, so overlapping boxes do not hide each other's.
pub fn annotate(rgb: &mut [u8], width: usize, height: usize, marks: &[Mark]) {
    if rgb.len() < width * height * 3 {
        return;
    }
    let mut cv = Canvas { rgb, width, height };
    let side = width.min(height) as i64;
    let t = (side / 300).max(2);
    let scale = (side / 400).max(1);
    let (w, h) = (width as i64, height as i64);
    let corners = |m: &Mark| {
        (
            m.x.round() as i64,
            m.y.round() as i64,
            (m.x + m.w).round() as i64,
            (m.y + m.h).round() as i64,
        )
    };
    for m in marks {
        let (x0, y0, x1, y1) = corners(m);
        cv.fill(x0, y0, x1, y0 + t, m.color);
        cv.fill(x0, y1 - t, x1, y1, m.color);
        cv.fill(x0, y0, x0 + t, y1, m.color);
        cv.fill(x1 - t, y0, x1, y1, m.color);
        let r = t.max(2);
        for p in &m.points {
            if p[0].is_finite() && p[1].is_finite() {
                let (px, py) = (p[0].round() as i64, p[1].round() as i64);
                cv.fill(px - r, py - r, px + r + 1, py + r + 1, m.color);
            }
        }
    }
    let mut placed: Vec<(i64, i64, i64, i64)> = Vec::new();
    let overlaps = |a: &(i64, i64, i64, i64), b: &(i64, i64, i64, i64)| {
        a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
    };
    for m in marks {
        let (x0, y0, _, _) = corners(m);
        let th = 8 * scale + 2 * scale;
        let tw = (m.caption.chars().count() as i64 * 8 * scale + 2 * scale).min(w.max(1));
        let tx = x0.min(w - tw).max(0);
        let mut ty = if y0 - th >= 0 { y0 - th } else { y0.max(0) };
        // Below any caption it would cover (a bounded number of steps).
        for _ in 0..marks.len() {
            let bar = (tx, ty, tx + tw, ty + th);
            match placed.iter().find(|p| overlaps(p, &bar)) {
                Some(p) if p.3 + th <= h => ty = p.3,
                _ => break,
            }
        }
        ty = ty.min(h - th).max(0);
        placed.push((tx, ty, tx + tw, ty + th));
        cv.fill(tx, ty, tx + tw, ty + th, m.color);
        cv.text(tx + scale, ty + scale, &m.caption, scale, [255, 255, 255]);
    }
}

/// Hide a box of a packed RGB24 picture: a mosaic of blocks (each the mean of its pixels) about
/// a tenth of the box's smaller side, at least 4 pixels. Clipped to the picture.
pub fn mosaic(rgb: &mut [u8], width: usize, height: usize, x: f32, y: f32, w: f32, h: f32) {
    if rgb.len() < width * height * 3 || !(x.is_finite() && y.is_finite() && w > 0.0 && h > 0.0) {
        return;
    }
    let x0 = (x.floor().max(0.0) as usize).min(width);
    let y0 = (y.floor().max(0.0) as usize).min(height);
    let x1 = ((x + w).ceil().max(0.0) as usize).min(width);
    let y1 = ((y + h).ceil().max(0.0) as usize).min(height);
    let block = ((w.min(h) / 10.0) as usize).max(4);
    let mut by = y0;
    while by < y1 {
        let ey = (by + block).min(y1);
        let mut bx = x0;
        while bx < x1 {
            let ex = (bx + block).min(x1);
            let mut sum = [0u64; 3];
            for yy in by..ey {
                for xx in bx..ex {
                    let o = (yy * width + xx) * 3;
                    for c in 0..3 {
                        sum[c] += rgb[o + c] as u64;
                    }
                }
            }
            let n = ((ey - by) * (ex - bx)).max(1) as u64;
            let mean = [(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8];
            for yy in by..ey {
                for xx in bx..ex {
                    let o = (yy * width + xx) * 3;
                    rgb[o..o + 3].copy_from_slice(&mean);
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_outline_and_caption_inside_bounds() {
        let (w, h) = (64, 48);
        let mut rgb = vec![0u8; w * h * 3];
        let m = Mark {
            x: 10.0,
            y: 20.0,
            w: 30.0,
            h: 20.0,
            caption: "A".into(),
            color: [255, 0, 0],
            points: Vec::new(),
        };
        annotate(&mut rgb, w, h, std::slice::from_ref(&m));
        let px = |x: usize, y: usize| &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
        assert_eq!(px(25, 20), &[255, 0, 0]); // top edge
        assert_eq!(px(10, 30), &[255, 0, 0]); // left edge
        assert_eq!(px(25, 30), &[0, 0, 0]); // inside stays untouched
                                            // The caption bar sits above the box and holds white glyph pixels.
        let bar: Vec<&[u8]> = (10..20)
            .flat_map(|y| (10..20).map(move |x| (x, y)))
            .map(|(x, y)| px(x, y))
            .collect();
        assert!(bar.contains(&&[255u8, 255, 255][..]));
        // Boxes partly outside the picture do not panic.
        let off = Mark {
            x: -10.0,
            y: -5.0,
            w: 100.0,
            h: 100.0,
            ..m
        };
        annotate(&mut rgb, w, h, &[off]);
    }

    fn white_in(rgb: &[u8], w: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> bool {
        (y0..y1)
            .any(|y| (x0..x1).any(|x| rgb[(y * w + x) * 3..(y * w + x) * 3 + 3] == [255, 255, 255]))
    }

    #[test]
    fn captions_stay_inside_and_do_not_cover_each_other() {
        let (w, h) = (100, 100);
        let mark = |x: f32, y: f32, caption: &str| Mark {
            x,
            y,
            w: 20.0,
            h: 20.0,
            caption: caption.into(),
            color: [200, 0, 0],
            points: Vec::new(),
        };
        // A box at the right edge with a caption wider than the room left of it: the whole
        // caption is drawn (its last glyph is inside the picture).
        let mut rgb = vec![0u8; w * h * 3];
        annotate(&mut rgb, w, h, &[mark(85.0, 50.0, "person 0.99")]);
        // 11 glyphs of 8 px + 2 px margin = 90 px: the bar spans x 10..100.
        assert!(white_in(&rgb, w, 10, 40, 20, 50), "caption start moved in");
        assert!(white_in(&rgb, w, 90, 40, 100, 50), "caption end inside");
        // Two boxes at the same place: the second caption goes below the first.
        let mut rgb = vec![0u8; w * h * 3];
        annotate(
            &mut rgb,
            w,
            h,
            &[mark(10.0, 50.0, "AAA"), mark(12.0, 51.0, "BBB")],
        );
        assert!(
            white_in(&rgb, w, 10, 40, 36, 50),
            "first caption above the box"
        );
        assert!(
            white_in(&rgb, w, 10, 50, 36, 60),
            "second caption below the first"
        );
    }

    #[test]
    fn points_are_marked() {
        let (w, h) = (64, 64);
        let mut rgb = vec![0u8; w * h * 3];
        let m = Mark {
            x: 5.0,
            y: 20.0,
            w: 50.0,
            h: 40.0,
            caption: String::new(),
            color: [0, 200, 0],
            points: vec![[30.0, 40.0], [f32::NAN, 1.0]],
        };
        annotate(&mut rgb, w, h, &[m]);
        assert_eq!(&rgb[(40 * w + 30) * 3..(40 * w + 30) * 3 + 3], &[0, 200, 0]);
    }

    #[test]
    fn mosaic_flattens_the_box_only() {
        let (w, h) = (40, 40);
        let mut rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let before = rgb.clone();
        mosaic(&mut rgb, w, h, 8.0, 8.0, 16.0, 16.0);
        // Inside: each 4x4 block is one colour.
        let px = |v: &[u8], x: usize, y: usize| v[(y * w + x) * 3..(y * w + x) * 3 + 3].to_vec();
        assert_eq!(px(&rgb, 8, 8), px(&rgb, 11, 11));
        assert_ne!(px(&before, 8, 8), px(&before, 11, 11));
        // Outside: untouched.
        assert_eq!(px(&rgb, 0, 0), px(&before, 0, 0));
        assert_eq!(px(&rgb, 30, 30), px(&before, 30, 30));
        mosaic(&mut rgb, w, h, -100.0, -100.0, 1000.0, f32::NAN);
    }
}
