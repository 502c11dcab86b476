//! Times in outputs: every time in every JSON vx writes is seconds rounded to the millisecond
//! (docs/OUTPUTS.md), with no `-0.0`. Used as `#[serde(serialize_with = "vx_image::secs::ms")]`
//! on the time fields of every report type, so the values kept in memory stay exact.
use serde::Serializer;

/// `t` rounded to the millisecond; `-0.0` becomes `0.0`.
pub fn round_ms(t: f64) -> f64 {
    let r = (t * 1000.0).round() / 1000.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// Serialize seconds rounded to the millisecond.
/// An f32 setting (a threshold) as the decimal it was written as: 0.3, not
/// 0.30000001192092896 (the f32 widened to f64).
pub fn short_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(format!("{v}").parse().unwrap_or(*v as f64))
}

pub fn ms<S: Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_ms(*t))
}

/// Serialize optional seconds rounded to the millisecond (`null` stays `null`).
pub fn ms_opt<S: Serializer>(t: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&round_ms(*t)),
        None => s.serialize_none(),
    }
}

/// Serialize a path as a string, lossily where it is not UTF-8 (a Latin-1 file name gets U+FFFD
/// in the JSON instead of making the whole report fail to serialize).
pub fn lossy_path<S: Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// [`lossy_path`] for an optional path.
pub fn lossy_path_opt<S: Serializer>(
    p: &Option<std::path::PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_and_drops_negative_zero() {
        assert_eq!(round_ms(5.5600000000000005), 5.56);
        assert_eq!(round_ms(0.32199999999999995), 0.322);
        assert_eq!(round_ms(-0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(round_ms(-0.0001).to_bits(), 0.0f64.to_bits());
        assert_eq!(round_ms(1.0005), 1.001);
    }
}
