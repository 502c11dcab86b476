//! all-MiniLM-L6-v2 (int8 ONNX) sentence embeddings against the shared reference
//! (PROVENANCE.md §9, models/minilm_reference/embeddings.json): the same token ids, the same
//! vectors (to 1e-4, cosine >= 0.9999), unit length; long texts split, not cut.
mod common;
use common::need;
use vx_infer::runtime::SessionOptions;
use vx_infer::text::{tokenizer_beside, TextEmbedder, MAX_TOKENS};

fn open() -> TextEmbedder {
    let model = need("models/all-MiniLM-L6-v2-int8.onnx");
    let tok = tokenizer_beside(&model).expect("tokenizer beside the model");
    assert!(
        tok.ends_with("all-MiniLM-L6-v2-tokenizer.json"),
        "{}",
        tok.display()
    );
    TextEmbedder::open(&model, &tok, SessionOptions { threads: 2 }).unwrap()
}

#[test]
fn reference_sentences_give_the_reference_vectors() {
    let mut e = open();
    let r: serde_json::Value = serde_json::from_slice(
        &std::fs::read(need("models/minilm_reference/embeddings.json")).unwrap(),
    )
    .unwrap();
    let sentences = r["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 11);
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    for (t, s) in texts.iter().zip(sentences) {
        let ids: Vec<u32> = s["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let pieces = e.token_ids(t).unwrap();
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].0, ids, "{t}");
    }
    let got = e.embed(&texts).unwrap();
    assert_eq!(got.len(), 11);
    for (p, s) in got.iter().zip(sentences) {
        let want: Vec<f64> = s["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(p.embedding.len(), 384);
        let dot: f64 = p
            .embedding
            .iter()
            .zip(&want)
            .map(|(a, b)| *a as f64 * b)
            .sum();
        let norm: f64 = p
            .embedding
            .iter()
            .map(|a| (*a as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert!(dot >= 0.9999, "{}: cosine {dot}", s["text"]);
        let max = p
            .embedding
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(max < 1e-4, "{}: {max}", s["text"]);
    }
    // Similar sentences are closer than unrelated ones (reference: 0.6746 and -0.0497).
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!((cos(&got[0].embedding, &got[1].embedding) - 0.6746).abs() < 1e-3);
    assert!((cos(&got[0].embedding, &got[2].embedding) + 0.0497).abs() < 1e-3);
}

#[test]
fn long_text_is_split_into_pieces_not_cut() {
    let mut e = open();
    let sentence = "The quarterly review showed that revenue grew in every region. ";
    let long = sentence.repeat(40); // ~480 tokens
    let pieces = e.embed(&[&long, "short"]).unwrap();
    let first: Vec<_> = pieces.iter().filter(|p| p.index == 0).collect();
    assert!(first.len() >= 2, "{}", first.len());
    assert!(first.iter().all(|p| p.tokens <= MAX_TOKENS));
    // The pieces cover the text end to end, in order.
    assert_eq!(first[0].start, 0);
    assert_eq!(first.last().unwrap().end, long.trim_end().len());
    for w in first.windows(2) {
        assert!(w[0].end <= w[1].start);
    }
    let total: usize = first.iter().map(|p| p.tokens - 2).sum();
    assert_eq!(
        total + 2,
        e.token_ids(&long)
            .unwrap()
            .iter()
            .map(|p| p.0.len() - 2)
            .sum::<usize>()
            + 2
    );
    assert_eq!(pieces.iter().filter(|p| p.index == 1).count(), 1);
}
