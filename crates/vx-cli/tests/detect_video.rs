//! `vx detect` / `vx faces` on video (keyframes, every N seconds, the keyframes command's
//! detection), annotated pictures, hostile models, EXIF orientation, class filters, blurring,
//! audio-only input. Split from tests/detect.rs.
mod common;
use common::detect::*;
use common::*;

#[test]
fn video_keyframes_and_every_n_seconds() {
    let d = TempDir::new("detect-video");
    let clip = image_clip(&d);
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "detect",
            clip.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = vx().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = run(&[]);
    let r = v["results"].as_array().unwrap();
    let times: Vec<f64> = r.iter().map(|x| x["time"].as_f64().unwrap()).collect();
    assert_eq!(times, vec![0.0, 2.0, 4.0, 6.0]);
    let has = |i: usize, l: &str| labels(&r[i]).iter().any(|x| x == l);
    assert!(
        has(0, "bus") && has(1, "dog") && has(2, "horse") && has(3, "person"),
        "{v}"
    );
    assert!(!has(0, "dog") && !has(1, "bus"));
    assert_eq!(
        (r[0]["width"].as_u64(), r[0]["height"].as_u64()),
        (Some(640), Some(480))
    );
    // One frame a second: twice as many results, same answers per image.
    let v = run(&["--every", "1"]);
    let r = v["results"].as_array().unwrap();
    let times: Vec<f64> = r.iter().map(|x| x["time"].as_f64().unwrap()).collect();
    assert_eq!(times, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert!(labels(&r[5]).iter().any(|x| x == "horse"));
    // Frames one per model call or several per call: the same answers.
    assert_eq!(
        run(&["--every", "1", "--batch", "1"])["results"],
        v["results"]
    );
    assert_eq!(
        run(&["--every", "1", "--batch", "3"])["results"],
        v["results"]
    );
}

#[test]
fn annotate_draws_the_boxes() {
    let d = TempDir::new("detect-annotate");
    let dir = d.path("ann");
    let (o, v) = detect(&["dog.jpg"], &["--annotate", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &v["results"][0];
    let path = std::path::PathBuf::from(r["annotated"].as_str().unwrap());
    // DIR/<stem>-<8 hex digits of the input path's hash>.jpg
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("dog-") && name.ends_with(".jpg") && name.len() == 16,
        "{name}"
    );
    assert_eq!(path.parent().unwrap(), dir);
    let rgb = decode_rgb(&path);
    let (w, h) = (
        r["width"].as_u64().unwrap() as usize,
        r["height"].as_u64().unwrap() as usize,
    );
    assert_eq!(rgb.len(), w * h * 3);
    let original = decode_rgb(&need("media/dog.jpg"));
    // The dog box's left edge is drawn in the colour of class 18 (palette[18 % 10] = [52, 69, 147]):
    // after JPEG (4:2:0) the pixel is nearer that colour than the photo was.
    let dog = r["detections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["label"] == "dog")
        .unwrap();
    let (x, y, bh) = (
        dog["box"]["x"].as_f64().unwrap().round() as usize,
        dog["box"]["y"].as_f64().unwrap().round() as usize,
        dog["box"]["h"].as_f64().unwrap() as usize,
    );
    let at = |img: &[u8], x: usize, y: usize| {
        [
            img[(y * w + x) * 3],
            img[(y * w + x) * 3 + 1],
            img[(y * w + x) * 3 + 2],
        ]
    };
    let dist = |a: [u8; 3]| {
        a.iter()
            .zip([52u8, 69, 147])
            .map(|(x, y)| (*x as i32 - y as i32).abs())
            .sum::<i32>()
    };
    let (drawn, photo) = (at(&rgb, x, y + bh / 2), at(&original, x, y + bh / 2));
    assert!(
        dist(drawn) < 90 && dist(drawn) < dist(photo),
        "{drawn:?} vs photo {photo:?}"
    );
}

/// One shared image every 2 s at 640x480, a keyframe on each (the issue's video test).
fn image_clip(d: &TempDir) -> std::path::PathBuf {
    let mut parts = Vec::new();
    for name in ["bus", "dog", "horses", "zidane"] {
        let out = d.path(&format!("{name}.mp4"));
        let img = need(&format!("media/{name}.jpg"));
        ffmpeg(&["-loop", "1", "-t", "2", "-i", img.to_str().unwrap(), "-vf",
                 "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1",
                 "-r", "25", "-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p", out.to_str().unwrap()]);
        parts.push(format!("file '{}'\n", out.display()));
    }
    let list = d.path("list.txt");
    std::fs::write(&list, parts.concat()).unwrap();
    let clip = d.path("clip.mp4");
    ffmpeg(&[
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list.to_str().unwrap(),
        "-c",
        "copy",
        clip.to_str().unwrap(),
    ]);
    clip
}

#[test]
fn keyframes_with_detect_uses_the_same_decode() {
    let d = TempDir::new("kf-detect");
    let clip = image_clip(&d);
    let out = d.path("kf");
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let o = vx()
        .args([
            "keyframes",
            "-q",
            clip.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--detect",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let kf = read_json(&out.join("keyframes.json"));
    let det = read_json(&out.join("detections.json"));
    let k = kf["keyframes"].as_array().unwrap();
    let r = det["results"].as_array().unwrap();
    assert_eq!(k.len(), 4);
    assert_eq!(r.len(), 4);
    for (k, r) in k.iter().zip(r) {
        assert_eq!(k["path"], r["keyframe"]);
        assert_eq!(k["time"], r["time"]);
    }
    let has = |i: usize, l: &str| labels(&r[i]).iter().any(|x| x == l);
    assert!(
        has(0, "bus") && has(1, "dog") && has(2, "horse") && has(3, "person"),
        "{det}"
    );
}

/// Hostile or mismatched models (issue #10 items 12, 13): declared input sizes held to the
/// budget, NaN and infinity never reach the JSON, a model of the wrong family is refused by
/// its signature, and no JSON is printed on failure.
#[test]
fn hostile_models_are_refused_or_contained() {
    let d = TempDir::new("detect-hostile");
    let img = d.path("red.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=128x64",
        "-frames:v",
        "1",
        img.to_str().unwrap(),
    ]);
    // YOLO-shaped models declaring huge inputs: 2^31-1 used to panic ("capacity overflow"),
    // 65536^2 to abort on a 38 GB allocation, 20000^2 to run in 8.3 GB.
    for side in [2_147_483_647u64, 65_536, 20_000] {
        let model = d.path(&format!("yolo-{side}.onnx"));
        std::fs::write(
            &model,
            onnx::constant_model(side, side, &[1, 6, 8], &[0.0; 48]),
        )
        .unwrap();
        let o = vx()
            .args([
                "detect",
                img.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{side}: {err}");
        assert!(
            err.contains("larger than vx feeds a model") && err.lines().count() == 1,
            "{side}: {err}"
        );
        assert!(o.stdout.is_empty());
    }
    // NaN and infinity in a model's output: dropped, never `null` in the JSON.
    let mut values = vec![0f32; 6 * 8];
    let rows: [[f32; 6]; 3] = [
        [f32::NAN, 32.0, 20.0, 10.0, 0.9, 0.1],
        [32.0, 32.0, f32::INFINITY, 10.0, 0.9, 0.1],
        [32.0, 32.0, 20.0, 10.0, 0.2, f32::NAN],
    ];
    for (a, row) in rows.iter().enumerate() {
        for (k, v) in row.iter().enumerate() {
            values[k * 8 + a] = *v;
        }
    }
    let model = d.path("nan.onnx");
    std::fs::write(&model, onnx::constant_model(64, 64, &[1, 6, 8], &values)).unwrap();
    let o = vx()
        .args([
            "detect",
            img.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(!text.contains("null"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for det in v["results"][0]["detections"].as_array().unwrap() {
        assert!(det["score"].as_f64().unwrap().is_finite(), "{det}");
    }
    // `vx faces` with the SSD model (one input and four outputs too): refused by signature,
    // one line, no JSON.
    let o = vx()
        .args([
            "faces",
            need("media/zidane.jpg").to_str().unwrap(),
            "--model",
            need("models/ssd_mobilenet_v2_coco.onnx").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("signature") && err.lines().count() == 1,
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no JSON on failure");
}

/// A JPEG stored sideways with EXIF Orientation=6 ("rotate 90 degrees clockwise to display"),
/// as phones write them: processed upright, boxes in the displayed picture's pixels (issue #10
/// item 23; it used to be processed as stored).
#[test]
fn exif_orientation_is_applied_to_still_images() {
    let d = TempDir::new("detect-exif");
    let stored = d.path("stored.jpg");
    // zidane.jpg turned 90 degrees counter-clockwise: what a phone stores for an upright picture.
    ffmpeg(&[
        "-i",
        need("media/zidane.jpg").to_str().unwrap(),
        "-vf",
        "transpose=2",
        "-q:v",
        "2",
        stored.to_str().unwrap(),
    ]);
    let phone = d.path("phone.jpg");
    with_exif_orientation(&stored, 6, &phone);
    let faces = need("models/centerface.onnx");
    let run = |img: &std::path::Path| -> serde_json::Value {
        let o = vx()
            .args([
                "faces",
                img.to_str().unwrap(),
                "-m",
                faces.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (got, want) = (run(&phone), run(&need("media/zidane.jpg")));
    let (g, w) = (&got["results"][0], &want["results"][0]);
    assert_eq!(
        (&g["width"], &g["height"]),
        (&1280.into(), &720.into()),
        "{g}"
    );
    let (gd, wd) = (dets(g), dets(w));
    assert_eq!(gd.len(), wd.len(), "{gd:?} vs {wd:?}");
    for (a, b) in gd.iter().zip(&wd) {
        for (x, y) in a.2.iter().zip(b.2) {
            assert!((x - y).abs() < 12.0, "{gd:?} vs {wd:?}");
        }
    }
}

/// `--annotate DIR` with two inputs of the same file name in different folders: two images,
/// each drawn on its own input (issue #10 item 22: one used to overwrite the other while both
/// results pointed to it).
#[test]
fn annotated_images_of_same_named_inputs_do_not_collide() {
    let d = TempDir::new("detect-annotate-names");
    for (sub, img) in [("a", "dog.jpg"), ("b", "bus.jpg")] {
        std::fs::create_dir_all(d.path(sub)).unwrap();
        std::fs::copy(need(&format!("media/{img}")), d.path(sub).join("x.jpg")).unwrap();
    }
    let dir = d.path("ann");
    let o = vx()
        .args([
            "-q",
            "detect",
            d.path("a/x.jpg").to_str().unwrap(),
            d.path("b/x.jpg").to_str().unwrap(),
            "-m",
            need("models/ssd_mobilenet_v2_coco.onnx").to_str().unwrap(),
            "--annotate",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["annotated"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 2);
    assert_ne!(paths[0], paths[1]);
    // Each image has its own input's size (dog.jpg 768x576, bus.jpg 810x1080).
    for (p, r) in paths.iter().zip(v["results"].as_array().unwrap()) {
        let rgb = decode_rgb(std::path::Path::new(p));
        let (w, h) = (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap());
        assert_eq!(rgb.len() as u64, w * h * 3, "{p}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

/// `--classes person,car` keeps only those classes; an unknown name is a usage error (issue #12
/// item 13).
#[test]
fn classes_filter() {
    let (o, all) = detect(&["bus.jpg"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let labels_all = labels(&all["results"][0]);
    assert!(labels_all.contains(&"bus".to_string()) && labels_all.contains(&"person".to_string()));
    let (o, only) = detect(&["bus.jpg"], &["--classes", "bus"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = labels(&only["results"][0]);
    assert!(
        !kept.is_empty() && kept.iter().all(|l| l == "bus"),
        "{kept:?}"
    );
    let o = vx()
        .args([
            "detect",
            need("media/bus.jpg").to_str().unwrap(),
            "-m",
            need("models/ssd_mobilenet_v2_coco.onnx").to_str().unwrap(),
            "--classes",
            "person,unicorn",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unicorn"), "{}", stderr(&o));
}

/// `vx faces --blur DIR`: the picture with every face hidden by a mosaic, the rest as it was
/// (issue #12 item 13).
#[test]
fn faces_blurred() {
    let d = TempDir::new("detect-blur");
    let dir = d.path("blur");
    let img = need("media/zidane.jpg");
    let o = vx()
        .args([
            "faces",
            img.to_str().unwrap(),
            "-m",
            need("models/centerface.onnx").to_str().unwrap(),
            "--blur",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["results"][0];
    let blurred = std::path::PathBuf::from(r["blurred"].as_str().unwrap());
    let (got, orig) = (decode_rgb(&blurred), decode_rgb(&img));
    let w = 1280usize;
    let at = |v: &[u8], x: usize, y: usize| -> i32 {
        v[(y * w + x) * 3..(y * w + x) * 3 + 3]
            .iter()
            .map(|&c| c as i32)
            .sum()
    };
    // Outside the faces: the picture (JPEG twice: close, not equal).
    assert!((at(&got, 100, 600) - at(&orig, 100, 600)).abs() < 40);
    // Inside each face: flattened, and no longer the photo's detail.
    for det in r["detections"].as_array().unwrap() {
        let b = &det["box"];
        let (x, y) = (
            b["x"].as_f64().unwrap() as usize,
            b["y"].as_f64().unwrap() as usize,
        );
        let (bw, bh) = (
            b["w"].as_f64().unwrap() as usize,
            b["h"].as_f64().unwrap() as usize,
        );
        let var = |v: &[u8]| {
            let vals: Vec<i32> = (0..bh)
                .step_by(2)
                .flat_map(|dy| (0..bw).step_by(2).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| at(v, x + dx, y + dy))
                .collect();
            // Mean absolute difference between horizontal neighbours: detail.
            vals.windows(2).map(|p| (p[0] - p[1]).abs()).sum::<i32>() / vals.len() as i32
        };
        assert!(
            var(&got) * 2 < var(&orig),
            "{det}: {} vs {}",
            var(&got),
            var(&orig)
        );
    }
}

/// An input without a picture (audio only) is exit status 3, as docs/OUTPUTS.md says, not 1
/// (damage): the multi-input commands share one way of gathering their inputs' outcomes.
#[test]
fn audio_only_input_exits_3() {
    let o = run_vx(&[
        "detect",
        s(&need("media/jfk.wav")),
        "-m",
        s(&need("models/ssd_mobilenet_v2_coco.onnx")),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

/// `vx faces VIDEO --blur OUT.mkv`: every frame detected and written with its own faces hidden,
/// at the input frames' times (MJPEG in Matroska); the faces move from frame to frame, so a
/// mosaic drawn from another frame's boxes would leave a face visible (issue #12 item 13).
/// A picture input or several inputs are refused, and nothing is left behind.
#[test]
fn faces_blurred_video() {
    let d = TempDir::new("detect-blur-video");
    let clip = d.path("pan.mp4");
    // 6 frames at 5 fps, 960x540 cut from the photo, moving 60 px right per frame.
    ffmpeg(&[
        "-loop",
        "1",
        "-framerate",
        "5",
        "-i",
        s(&need("media/zidane.jpg")),
        "-vf",
        "crop=960:540:x='n*60':y=90",
        "-frames:v",
        "6",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        s(&clip),
    ]);
    let model = need("models/centerface.onnx");
    let out = d.path("hidden.mkv");
    let o = run_vx(&["faces", s(&clip), "-m", s(&model), "--blur", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 6, "every frame is detected");
    let probe = ffprobe_json(&["-show_streams", "-show_frames", "-show_format", s(&out)]);
    assert_eq!(probe["streams"][0]["codec_name"], "mjpeg");
    // Each frame lasts until the next, the last one as long as the one before: 6 x 0.2 s.
    let dur: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((dur - 1.2).abs() < 0.01, "duration {dur}");
    let frames = probe["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6);
    for (f, r) in frames.iter().zip(results) {
        let t: f64 = f["pts_time"].as_str().unwrap().parse().unwrap();
        assert!((t - r["time"].as_f64().unwrap()).abs() < 0.002, "{f} {r}");
    }
    let (w, h) = (960usize, 540usize);
    let (got, orig) = (
        decode_rgb(&out),
        ffmpeg_stdout(&["-i", s(&clip), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]),
    );
    assert_eq!((got.len(), orig.len()), (6 * w * h * 3, 6 * w * h * 3));
    let px = |v: &[u8], i: usize, x: usize, y: usize| -> i32 {
        let o = ((i * h + y) * w + x) * 3;
        v[o..o + 3].iter().map(|&c| c as i32).sum()
    };
    // Inside a box (its middle 80 %): the share of horizontal neighbours that differ by more
    // than a JPEG's noise. A mosaic is flat blocks (about a tenth of the box wide); a face is not.
    let busy = |v: &[u8], i: usize, b: &serde_json::Value| {
        let g = |k: &str| b[k].as_f64().unwrap();
        let (x0, x1) = (
            (g("x") + g("w") * 0.1) as usize,
            (g("x") + g("w") * 0.9) as usize,
        );
        let (y0, y1) = (
            (g("y") + g("h") * 0.1) as usize,
            (g("y") + g("h") * 0.9) as usize,
        );
        let (mut n, mut changed) = (0, 0);
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w - 1) {
                n += 1;
                changed += ((px(v, i, x, y) - px(v, i, x + 1, y)).abs() > 12) as usize;
            }
        }
        changed as f64 / n.max(1) as f64
    };
    for (i, r) in results.iter().enumerate() {
        let faces = r["detections"].as_array().unwrap();
        assert!(!faces.is_empty(), "frame {i}: no face found");
        for f in faces {
            let (a, b) = (busy(&got, i, &f["box"]), busy(&orig, i, &f["box"]));
            assert!(a < 0.25 && a * 2.0 < b, "frame {i} {f}: {a:.3} vs {b:.3}");
        }
        // Away from the faces (bottom-left corner), the picture is kept.
        assert!((px(&got, i, 20, h - 20) - px(&orig, i, 20, h - 20)).abs() < 40);
    }

    // A still picture cannot give a blurred video; several inputs neither (usage error).
    let bad = d.path("bad.mkv");
    let o = run_vx(&[
        "faces",
        s(&need("media/zidane.jpg")),
        "-m",
        s(&model),
        "--blur",
        s(&bad),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs a video input"), "{}", stderr(&o));
    let o = run_vx(&[
        "faces",
        s(&clip),
        s(&clip),
        "-m",
        s(&model),
        "--blur",
        s(&bad),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!bad.exists());
    // The same file as the JSON output: refused.
    let o = run_vx(&[
        "faces",
        s(&clip),
        "-m",
        s(&model),
        "--blur",
        s(&bad),
        "-o",
        s(&bad),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!bad.exists());
    assert_eq!(
        std::fs::read_dir(d.path("")).unwrap().count(),
        2,
        "only pan.mp4 and hidden.mkv"
    );
    // A video whose picture size changes midway (two MPEG-TS joined): one clear error, and
    // no blurred file (a stream declaring one size and holding another is not written).
    let part = |name: &str, size: &str| {
        let p = d.path(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=5"),
            "-t",
            "1",
            "-c:v",
            "libx264",
            s(&p),
        ]);
        std::fs::read(&p).unwrap()
    };
    let mut joined = part("a.ts", "160x120");
    joined.extend(part("b.ts", "320x240"));
    let ts = d.path("joined.ts");
    std::fs::write(&ts, joined).unwrap();
    let o = run_vx(&["faces", s(&ts), "-m", s(&model), "--blur", s(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("picture size changes from 160x120 to 320x240"),
        "{}",
        stderr(&o)
    );
    assert!(!bad.exists());
    // Detection itself goes through the size change (it used to fail: one model call was
    // given pictures of both sizes).
    let o = run_vx(&["faces", s(&ts), "-m", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let widths: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths, [160, 320], "{v}");
}
