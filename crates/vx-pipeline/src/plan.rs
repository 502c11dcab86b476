//! The `--ops` language: `;` separates stages, `[a,b]` runs operations side by side.
//!
//! `"keyframes;[detect,faces];transcribe"`: keyframes first; detect and faces then look at
//! the frames keyframes kept (the same pictures it wrote, so detections join its images);
//! transcribe needs audio, which only the file produces. Stages order what consumes what,
//! not time: every operation runs during the same single pass over the file.
//!
//! An operation may take options in parentheses: `keyframes(every=5,max=20)`,
//! `detect(threshold=0.3,classes=person+car,agnostic-nms)`, `transcribe(language=en,words)`:
//! `key=value` or a bare `flag`, values without spaces, commas or parentheses (lists joined
//! by `+`). Which keys an operation takes is [`OpInfo::options`]; their values are checked by
//! whoever builds the operation ([`crate::runner`]).
//!
//! Errors point at the position in the spec (0-based character offset).

/// What an operation can take its pictures or data from, besides the file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Selected frames (keyframes): later stages see only what the producer kept.
    Frames,
    /// Text (transcripts, on-screen text): for operations that embed or index it.
    Text,
}

/// What the planner needs to know of an operation.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    pub name: &'static str,
    /// Something an earlier stage must produce (None: the file is enough).
    pub requires: Option<Kind>,
    /// Can consume this from an earlier stage when there is a producer.
    pub accepts: Option<Kind>,
    pub produces: Option<Kind>,
    /// The option keys it takes in `name(key=value,...)`.
    pub options: &'static [&'static str],
}

/// One `key=value` (or bare `key`) of an operation in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpOption {
    pub key: String,
    pub value: Option<String>,
    /// Position of the key in the spec.
    pub pos: usize,
}

/// An operation as written in the spec: its name, where, and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub name: String,
    pub pos: usize,
    pub options: Vec<OpOption>,
}

/// One operation in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub stage: usize,
    /// Position in the spec.
    pub pos: usize,
    /// Index (in [`Plan::steps`]) of the operation it takes its input from, if any.
    pub input: Option<usize>,
    /// Its options, as written (keys checked against [`OpInfo::options`]).
    pub options: Vec<OpOption>,
}

impl Step {
    /// Option `key` as written, if given (its `value` is None for a bare flag).
    pub fn option(&self, key: &str) -> Option<&OpOption> {
        self.options.iter().find(|o| o.key == key)
    }
}

/// A parsed and checked plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub stages: usize,
}

/// A spec error: what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--ops \"{spec}\": {what} at position {pos}")]
pub struct PlanError {
    pub spec: String,
    pub pos: usize,
    pub what: String,
}

/// Parse `spec` (syntax only): stages of operations as written.
pub fn parse(spec: &str) -> Result<Vec<Vec<Written>>, PlanError> {
    let err = |pos: usize, what: String| PlanError {
        spec: spec.to_string(),
        pos,
        what,
    };
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut stages: Vec<Vec<Written>> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len()
            && (chars[*i].is_ascii_alphanumeric() || matches!(chars[*i], '-' | '_'))
        {
            *i += 1;
        }
        (start, chars[start..*i].iter().collect::<String>())
    };
    let name = |i: &mut usize| -> Result<Written, PlanError> {
        let (start, name) = word(i);
        if name.is_empty() {
            return Err(err(
                start,
                match chars.get(start) {
                    Some(c) => format!("expected an operation name, found '{c}'"),
                    None => "expected an operation name, found the end".into(),
                },
            ));
        }
        let mut options = Vec::new();
        skip_ws(i);
        if chars.get(*i) == Some(&'(') {
            let open = *i;
            *i += 1;
            loop {
                skip_ws(i);
                let (pos, key) = word(i);
                if key.is_empty() {
                    return Err(match chars.get(pos) {
                        Some(c) => err(pos, format!("expected an option name, found '{c}'")),
                        // At the end: the '(' that nothing closes.
                        None => err(open, format!("unbalanced '(' of {name}: no ')' closes it")),
                    });
                }
                skip_ws(i);
                let mut value = None;
                if chars.get(*i) == Some(&'=') {
                    *i += 1;
                    skip_ws(i);
                    let v0 = *i;
                    while *i < chars.len()
                        && !chars[*i].is_whitespace()
                        && !matches!(chars[*i], ',' | '(' | ')' | '[' | ']' | ';')
                    {
                        *i += 1;
                    }
                    if *i == v0 {
                        return Err(err(v0, format!("option '{key}' of {name} has no value")));
                    }
                    value = Some(chars[v0..*i].iter().collect());
                    skip_ws(i);
                }
                if options.iter().any(|o: &OpOption| o.key == key) {
                    return Err(err(pos, format!("option '{key}' of {name} given twice")));
                }
                options.push(OpOption { key, value, pos });
                match chars.get(*i) {
                    Some(',') => *i += 1,
                    Some(')') => {
                        *i += 1;
                        break;
                    }
                    Some(c) => return Err(err(*i, format!("expected ',' or ')', found '{c}'"))),
                    None => {
                        return Err(err(
                            open,
                            format!("unbalanced '(' of {name}: no ')' closes it"),
                        ))
                    }
                }
            }
        }
        Ok(Written {
            name,
            pos: start,
            options,
        })
    };
    loop {
        skip_ws(&mut i);
        let mut stage = Vec::new();
        if chars.get(i) == Some(&'[') {
            let open = i;
            i += 1;
            loop {
                skip_ws(&mut i);
                stage.push(name(&mut i)?);
                skip_ws(&mut i);
                match chars.get(i) {
                    Some(',') => i += 1,
                    Some(']') => {
                        i += 1;
                        break;
                    }
                    Some(c) => return Err(err(i, format!("expected ',' or ']', found '{c}'"))),
                    None => return Err(err(open, "unbalanced '[': no ']' closes it".into())),
                }
            }
        } else {
            stage.push(name(&mut i)?);
        }
        stages.push(stage);
        skip_ws(&mut i);
        match chars.get(i) {
            None => break,
            Some(';') => i += 1,
            Some(']') => return Err(err(i, "unbalanced ']'".into())),
            Some(c) => return Err(err(i, format!("expected ';', found '{c}'"))),
        }
    }
    Ok(stages)
}

/// Parse and check `spec` against the known operations: unknown names, duplicates and
/// operations whose input nothing earlier produces are errors. Each step's input is the
/// nearest earlier producer of what it accepts.
pub fn plan(spec: &str, known: &[OpInfo]) -> Result<Plan, PlanError> {
    let stages = parse(spec)?;
    let err = |pos: usize, what: String| PlanError {
        spec: spec.to_string(),
        pos,
        what,
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut infos: Vec<OpInfo> = Vec::new();
    for (s, stage) in stages.iter().enumerate() {
        for w in stage {
            let (name, pos) = (&w.name, &w.pos);
            let info = known.iter().find(|k| k.name == name).ok_or_else(|| {
                let names: Vec<&str> = known.iter().map(|k| k.name).collect();
                err(
                    *pos,
                    format!("unknown operation '{name}' (known: {})", names.join(", ")),
                )
            })?;
            if steps.iter().any(|st| &st.name == name) {
                return Err(err(*pos, format!("'{name}' appears twice")));
            }
            if let Some(o) = w
                .options
                .iter()
                .find(|o| !info.options.contains(&o.key.as_str()))
            {
                return Err(err(
                    o.pos,
                    if info.options.is_empty() {
                        format!("'{name}' takes no options")
                    } else {
                        format!(
                            "unknown option '{}' of {name} (it takes: {})",
                            o.key,
                            info.options.join(", ")
                        )
                    },
                ));
            }
            let wanted = info.requires.or(info.accepts);
            // The nearest producer in an earlier stage.
            let input = wanted.and_then(|k| {
                (0..steps.len())
                    .rev()
                    .find(|&j| steps[j].stage < s && infos[j].produces == Some(k))
            });
            if let (Some(k), None) = (info.requires, input) {
                return Err(err(
                    *pos,
                    format!(
                        "'{name}' needs {} that no earlier stage produces",
                        match k {
                            Kind::Frames => "selected frames",
                            Kind::Text => "text",
                        }
                    ),
                ));
            }
            steps.push(Step {
                name: name.clone(),
                stage: s,
                pos: *pos,
                input,
                options: w.options.clone(),
            });
            infos.push(*info);
        }
    }
    Ok(Plan {
        steps,
        stages: stages.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[OpInfo] = &[
        OpInfo {
            name: "keyframes",
            requires: None,
            accepts: None,
            produces: Some(Kind::Frames),
            options: &["every", "max"],
        },
        OpInfo {
            name: "detect",
            requires: None,
            accepts: Some(Kind::Frames),
            produces: None,
            options: &["threshold", "classes", "agnostic-nms"],
        },
        OpInfo {
            name: "faces",
            requires: None,
            accepts: Some(Kind::Frames),
            produces: None,
            options: &[],
        },
        OpInfo {
            name: "transcribe",
            requires: None,
            accepts: None,
            produces: Some(Kind::Text),
            options: &["language", "words"],
        },
        OpInfo {
            name: "embed-text",
            requires: Some(Kind::Text),
            accepts: None,
            produces: None,
            options: &[],
        },
    ];

    #[test]
    fn stages_and_inputs() {
        let p = plan("keyframes;[detect, faces];transcribe", KNOWN).unwrap();
        let names: Vec<_> = p
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.stage, s.input))
            .collect();
        assert_eq!(
            names,
            [
                ("keyframes", 0, None),
                ("detect", 1, Some(0)),
                ("faces", 1, Some(0)),
                ("transcribe", 2, None)
            ]
        );
        assert_eq!(p.stages, 3);
        // Same stage: detect does not take keyframes' frames.
        let p = plan("[keyframes,detect]", KNOWN).unwrap();
        assert_eq!(p.steps[1].input, None);
        let p = plan("transcribe;embed-text", KNOWN).unwrap();
        assert_eq!(p.steps[1].input, Some(0));
    }

    #[test]
    fn errors_point_at_the_position() {
        let e = plan("keyframes;[detect,facez]", KNOWN).unwrap_err();
        assert_eq!(e.pos, 18);
        assert!(e.what.contains("unknown operation 'facez'"), "{e}");
        let e = plan("keyframes;[detect,faces", KNOWN).unwrap_err();
        assert_eq!(e.pos, 10);
        assert!(e.what.contains("unbalanced '['"), "{e}");
        let e = plan("keyframes];detect", KNOWN).unwrap_err();
        assert_eq!(e.pos, 9);
        let e = plan("embed-text;transcribe", KNOWN).unwrap_err();
        assert_eq!(e.pos, 0);
        assert!(e.what.contains("no earlier stage produces"), "{e}");
        let e = plan("[transcribe,embed-text]", KNOWN).unwrap_err();
        assert_eq!(e.pos, 12);
        let e = plan("detect;detect", KNOWN).unwrap_err();
        assert!(e.what.contains("twice"), "{e}");
        for bad in [
            "",
            ";",
            "keyframes;",
            "[]",
            "[detect,]",
            "a b",
            "[[detect]]",
            "detect,faces",
        ] {
            assert!(plan(bad, KNOWN).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn options_in_parentheses() {
        let p = plan(
            "keyframes(every=5, max=3);[detect(threshold=0.3,classes=person+car,agnostic-nms),faces];transcribe(words)",
            KNOWN,
        )
        .unwrap();
        let opts: Vec<(&str, Option<&str>, usize)> = p.steps[1]
            .options
            .iter()
            .map(|o| (o.key.as_str(), o.value.as_deref(), o.pos))
            .collect();
        assert_eq!(
            opts,
            [
                ("threshold", Some("0.3"), 34),
                ("classes", Some("person+car"), 48),
                ("agnostic-nms", None, 67)
            ]
        );
        assert_eq!(
            p.steps[0].option("every").unwrap().value.as_deref(),
            Some("5")
        );
        assert_eq!(p.steps[3].option("words").unwrap().value, None);
        assert!(p.steps[2].options.is_empty());
        assert_eq!(p.steps[1].input, Some(0));
        let e = plan("keyframes(evry=5)", KNOWN).unwrap_err();
        assert_eq!(e.pos, 10);
        assert!(
            e.what
                .contains("unknown option 'evry' of keyframes (it takes: every, max)"),
            "{e}"
        );
        let e = plan("keyframes;faces(threshold=0.2)", KNOWN).unwrap_err();
        assert_eq!(e.pos, 16);
        assert!(e.what.contains("'faces' takes no options"), "{e}");
        let e = plan("keyframes(every=)", KNOWN).unwrap_err();
        assert!(e.what.contains("has no value"), "{e}");
        let e = plan("keyframes(every=1,every=2)", KNOWN).unwrap_err();
        assert!(e.what.contains("given twice"), "{e}");
        let e = plan("keyframes(every=1", KNOWN).unwrap_err();
        assert_eq!(e.pos, 9);
        for open in ["keyframes(", "keyframes(every=1,"] {
            let e = plan(open, KNOWN).unwrap_err();
            assert_eq!(e.pos, 9, "{open}: {e}");
            assert!(e.what.contains("unbalanced '('"), "{e}");
        }
        assert!(e.what.contains("unbalanced '('"), "{e}");
        for bad in [
            "keyframes()",
            "keyframes(,)",
            "keyframes(every=1;max=2)",
            "(every=1)",
        ] {
            assert!(plan(bad, KNOWN).is_err(), "{bad:?} accepted");
        }
    }

    /// The parser never panics on arbitrary input (a stable stand-in for its fuzz target).
    #[test]
    fn arbitrary_specs_do_not_panic() {
        let alphabet: Vec<char> = "[]();,= -abcdefkst\u{e9}\u{1f600}".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let s: String = (0..len)
                .map(|k| alphabet[((x >> (k % 50)) as usize + k * 7) % alphabet.len()])
                .collect();
            if let Err(e) = plan(&s, KNOWN) {
                assert!(e.pos <= s.chars().count(), "{s:?}: {e}");
            }
        }
    }
}
