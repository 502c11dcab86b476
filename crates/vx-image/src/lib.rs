//! Pictures for vx, with no FFmpeg dependency (so that the streaming side of the `vx` binary
//! stays small):
//! * [`image`]: owned full-range 8-bit planar YUV, quarter-turn rotation, a moving test pattern.
//! * [`jpeg`]: JPEG straight from YUV planes (libjpeg-turbo) and PNG.
//! * [`phash`]: 64-bit DCT perceptual hash of a luma plane.
//! * [`fsutil`]: atomic file writes (temporary name, then rename).
//! * [`fsread`]: bounded reads of small inputs that may be anything (FIFOs, devices).

pub mod draw;
pub mod fsread;
pub mod fsutil;
pub mod image;
pub mod jpeg;
pub mod phash;
pub mod secs;
