//! SDP (RFC 4566) for a JPEG/RTP stream: what players (ffmpeg, VLC, GStreamer) need to receive
//! it, and a reader for the fields vx uses.

/// Why an SDP was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("no m=video line")]
    NoVideo,
    #[error("bad port in m=video")]
    Port,
    #[error("bad payload type in m=video")]
    PayloadType,
    #[error("bad a=x-dimensions \"{0}\": expected WIDTH,HEIGHT, each 1..65535")]
    Dimensions(String),
}

/// The stream described by an SDP.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescription {
    /// Destination address (connection line).
    pub address: String,
    pub port: u16,
    pub payload_type: u8,
    pub framerate: Option<f64>,
    /// Exact picture size; required when it is above 2040 pixels (the RTP header says 0).
    pub dimensions: Option<(u16, u16)>,
}

impl StreamDescription {
    pub fn to_sdp(&self) -> String {
        let ip = if self.address.contains(':') {
            "IP6"
        } else {
            "IP4"
        };
        let mut s = format!(
            "v=0\r\no=- 0 0 IN {ip} {addr}\r\ns=vx MJPEG stream\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=video {port} RTP/AVP {pt}\r\na=rtpmap:{pt} JPEG/90000\r\n",
            addr = self.address,
            port = self.port,
            pt = self.payload_type
        );
        if let Some(f) = self.framerate {
            s.push_str(&format!("a=framerate:{f}\r\n"));
        }
        if let Some((w, h)) = self.dimensions {
            s.push_str(&format!("a=x-dimensions:{w},{h}\r\n"));
        }
        s
    }

    /// Read the first video media section of an SDP.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut address = None;
        let mut media = None;
        let mut framerate = None;
        let mut dimensions = None;
        for line in text.lines().map(str::trim) {
            if let Some(c) = line.strip_prefix("c=") {
                address = c
                    .split_whitespace()
                    .nth(2)
                    .map(|a| a.split('/').next().unwrap_or(a).to_string());
            } else if let Some(m) = line.strip_prefix("m=video ") {
                let f: Vec<&str> = m.split_whitespace().collect();
                let port = f
                    .first()
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or(SdpError::Port)?;
                let pt = f
                    .get(2)
                    .and_then(|p| p.parse::<u8>().ok())
                    .ok_or(SdpError::PayloadType)?;
                media = Some((port, pt));
            } else if let Some(v) = line.strip_prefix("a=framerate:") {
                framerate = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("a=x-dimensions:") {
                let bad = || SdpError::Dimensions(v.trim().to_string());
                let (w, h) = v.split_once(',').ok_or_else(bad)?;
                let size = |x: &str| x.trim().parse::<u16>().ok().filter(|&n| n > 0);
                dimensions = Some((size(w).ok_or_else(bad)?, size(h).ok_or_else(bad)?));
            }
        }
        let (port, payload_type) = media.ok_or(SdpError::NoVideo)?;
        Ok(StreamDescription {
            address: address.unwrap_or_else(|| "0.0.0.0".into()),
            port,
            payload_type,
            framerate,
            dimensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let d = StreamDescription {
            address: "127.0.0.1".into(),
            port: 5004,
            payload_type: 26,
            framerate: Some(30.0),
            dimensions: Some((4096, 2160)),
        };
        let s = d.to_sdp();
        assert!(s.contains("m=video 5004 RTP/AVP 26\r\n"));
        assert!(s.contains("a=x-dimensions:4096,2160"));
        assert_eq!(StreamDescription::parse(&s).unwrap(), d);
        assert!(StreamDescription::parse("v=0\n").is_err());
    }

    #[test]
    fn bad_x_dimensions_are_refused() {
        // Issue #10 item 19: "0,0", "-1,-1" and "abc" were accepted.
        let base = "v=0\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 26\n";
        for bad in [
            "0,0",
            "-1,-1",
            "abc",
            "640",
            "640,0",
            "70000,480",
            "640,480,3",
            "",
        ] {
            let text = format!("{base}a=x-dimensions:{bad}\n");
            assert_eq!(
                StreamDescription::parse(&text),
                Err(SdpError::Dimensions(bad.to_string())),
                "{bad}"
            );
        }
        let ok = StreamDescription::parse(&format!("{base}a=x-dimensions: 4096, 2160\n"));
        assert_eq!(ok.unwrap().dimensions, Some((4096, 2160)));
    }
}
