//! Still-image encoders for keyframes: JPEG straight from YUV planes (libjpeg-turbo's
//! `tj3CompressFromYUVPlanes8`: no RGB round trip, no colour conversion at all) and PNG.
use crate::image::{Chroma, Yuv};

/// Output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }
}

/// One encoder per thread: holds the libjpeg-turbo handle between frames.
pub struct Encoder {
    jpeg: turbojpeg::Compressor,
    quality: i32,
}

impl Encoder {
    /// `quality` is the JPEG quality 1..=100 (libjpeg scale).
    pub fn new(quality: u8) -> Result<Self, String> {
        let mut jpeg = turbojpeg::Compressor::new().map_err(|e| e.to_string())?;
        let quality = quality.clamp(1, 100) as i32;
        jpeg.set_quality(quality).map_err(|e| e.to_string())?;
        Ok(Encoder { jpeg, quality })
    }

    pub fn quality(&self) -> i32 {
        self.quality
    }

    /// Encode a full-range YUV picture as baseline JFIF.
    pub fn jpeg(&mut self, img: &Yuv) -> Result<Vec<u8>, String> {
        let (cw, _) = img.chroma_size();
        let subsamp = match img.chroma {
            Chroma::C420 => turbojpeg::Subsamp::Sub2x2,
            Chroma::C422 => turbojpeg::Subsamp::Sub2x1,
            Chroma::C444 => turbojpeg::Subsamp::None,
        };
        // libjpeg-turbo reads the luma plane padded to whole chroma samples (even width for
        // 4:2:x, even height for 4:2:0): give it a padded copy for odd sizes (rare).
        let (sx, sy) = img.chroma.shifts();
        let (pw, ph) = (
            img.width.next_multiple_of(1 << sx),
            img.height.next_multiple_of(1 << sy),
        );
        let padded;
        let (y_plane, y_stride) = if (pw, ph) == (img.width, img.height) {
            (&img.y[..], img.width)
        } else {
            padded = pad_plane(&img.y, img.width, img.height, pw, ph);
            (&padded[..], pw)
        };
        let planes = turbojpeg::YuvPlanesImage {
            y_plane,
            u_plane: &img.u[..],
            v_plane: &img.v[..],
            width: img.width,
            height: img.height,
            y_stride,
            u_stride: cw,
            v_stride: cw,
            subsamp,
        };
        let buf = self
            .jpeg
            .compress_yuv_planes_to_owned(&planes)
            .map_err(|e| e.to_string())?;
        Ok(buf.to_vec())
    }

    /// Encode packed RGB24 as JPEG (4:2:0).
    pub fn jpeg_rgb(&mut self, rgb: &[u8], width: usize, height: usize) -> Result<Vec<u8>, String> {
        if width == 0 || height == 0 || rgb.len() < width * height * 3 {
            return Err("empty or short picture".into());
        }
        self.jpeg
            .set_subsamp(turbojpeg::Subsamp::Sub2x2)
            .map_err(|e| e.to_string())?;
        let img = turbojpeg::Image {
            pixels: rgb,
            width,
            pitch: width * 3,
            height,
            format: turbojpeg::PixelFormat::RGB,
        };
        let buf = self
            .jpeg
            .compress_to_owned(img)
            .map_err(|e| e.to_string())?;
        Ok(buf.to_vec())
    }

    /// Encode as 8-bit RGB PNG (fast zlib settings).
    pub fn png(&mut self, img: &Yuv) -> Result<Vec<u8>, String> {
        let rgb = img.to_rgb();
        let mut out = Vec::with_capacity(rgb.len() / 2);
        {
            let mut enc = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            let mut w = enc.write_header().map_err(|e| e.to_string())?;
            w.write_image_data(&rgb).map_err(|e| e.to_string())?;
        }
        Ok(out)
    }

    pub fn encode(&mut self, img: &Yuv, format: ImageFormat) -> Result<Vec<u8>, String> {
        match format {
            ImageFormat::Jpeg => self.jpeg(img),
            ImageFormat::Png => self.png(img),
        }
    }
}

/// Copy a `w` x `h` plane into `pw` x `ph`, repeating the last column and row.
fn pad_plane(src: &[u8], w: usize, h: usize, pw: usize, ph: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(pw * ph);
    for r in 0..ph {
        let row = &src[r.min(h - 1) * w..][..w];
        out.extend_from_slice(row);
        out.extend(std::iter::repeat_n(row[w - 1], pw - w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_roundtrip_keeps_size_and_colour() {
        let mut enc = Encoder::new(90).unwrap();
        for (w, h, c) in [
            (33, 17, Chroma::C420),
            (16, 16, Chroma::C422),
            (5, 3, Chroma::C444),
        ] {
            let img = Yuv::filled(w, h, c, [200, 90, 160]);
            let bytes = enc.jpeg(&img).unwrap();
            assert_eq!(&bytes[..2], &[0xff, 0xd8]);
            let hdr = turbojpeg::read_header(&bytes).unwrap();
            assert_eq!((hdr.width, hdr.height), (w, h));
            let dec = turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::GRAY).unwrap();
            assert!(dec.pixels.iter().all(|&v| (v as i32 - 200).abs() <= 2));
        }
    }

    #[test]
    fn png_has_signature() {
        let mut enc = Encoder::new(90).unwrap();
        let bytes = enc
            .png(&Yuv::filled(7, 5, Chroma::C420, [128, 128, 128]))
            .unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}
