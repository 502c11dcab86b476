//! SDP (RFC 4566) for a JPEG/RTP stream: what players (ffmpeg, VLC, GStreamer) need to receive
//! it, and a reader for the fields vx uses.

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
    pub fn parse(text: &str) -> Result<Self, String> {
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
                    .ok_or("bad port in m=video")?;
                let pt = f
                    .get(2)
                    .and_then(|p| p.parse::<u8>().ok())
                    .ok_or("bad payload type in m=video")?;
                media = Some((port, pt));
            } else if let Some(v) = line.strip_prefix("a=framerate:") {
                framerate = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("a=x-dimensions:") {
                let mut it = v.split(',').map(|x| x.trim().parse::<u16>());
                if let (Some(Ok(w)), Some(Ok(h))) = (it.next(), it.next()) {
                    dimensions = Some((w, h));
                }
            }
        }
        let (port, payload_type) = media.ok_or("no m=video line")?;
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
}
