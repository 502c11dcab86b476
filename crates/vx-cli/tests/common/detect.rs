//! Helpers of the detection tests (tests/detect.rs, tests/detect_video.rs): `vx detect` with
//! the shared SSD model, and the detections of a result.
use super::*;

pub fn detect(images: &[&str], extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    detect_env(images, extra, &[])
}

/// `vx detect` with the SSD model on shared images, with extra environment variables.
pub fn detect_env(
    images: &[&str],
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Output, serde_json::Value) {
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let mut args: Vec<String> = vec!["detect".into()];
    args.extend(
        images
            .iter()
            .map(|i| need(&format!("media/{i}")).display().to_string()),
    );
    args.extend(["--model".into(), model.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = vx().args(&args).envs(env.iter().copied()).output().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o, v)
}

/// (label, score, [x0, y0, x1, y1]) of each detection of one result.
pub fn dets(r: &serde_json::Value) -> Vec<(String, f64, [f64; 4])> {
    r["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b = &d["box"];
            let (x, y, w, h) = (
                b["x"].as_f64().unwrap(),
                b["y"].as_f64().unwrap(),
                b["w"].as_f64().unwrap(),
                b["h"].as_f64().unwrap(),
            );
            (
                d["label"].as_str().unwrap().to_string(),
                d["score"].as_f64().unwrap(),
                [x, y, x + w, y + h],
            )
        })
        .collect()
}

pub fn labels(r: &serde_json::Value) -> Vec<String> {
    let mut l: Vec<String> = dets(r).into_iter().map(|d| d.0).collect();
    l.sort();
    l
}
