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

/// Draw each mark: an outline, and its caption on a bar of the same colour above the box
/// (inside it when the box touches the top edge).
pub fn annotate(rgb: &mut [u8], width: usize, height: usize, marks: &[Mark]) {
    if rgb.len() < width * height * 3 {
        return;
    }
    let mut cv = Canvas { rgb, width, height };
    let side = width.min(height) as i64;
    let t = (side / 300).max(2);
    let scale = (side / 400).max(1);
    for m in marks {
        let (x0, y0) = (m.x.round() as i64, m.y.round() as i64);
        let (x1, y1) = ((m.x + m.w).round() as i64, (m.y + m.h).round() as i64);
        cv.fill(x0, y0, x1, y0 + t, m.color);
        cv.fill(x0, y1 - t, x1, y1, m.color);
        cv.fill(x0, y0, x0 + t, y1, m.color);
        cv.fill(x1 - t, y0, x1, y1, m.color);
        let th = 8 * scale + 2 * scale;
        let tw = m.caption.chars().count() as i64 * 8 * scale + 2 * scale;
        let ty = if y0 - th >= 0 { y0 - th } else { y0 };
        cv.fill(x0, ty, x0 + tw, ty + th, m.color);
        cv.text(x0 + scale, ty + scale, &m.caption, scale, [255, 255, 255]);
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
}
