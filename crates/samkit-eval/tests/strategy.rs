//! The candidate strategies with the real default model on a drawn image: `sam` is exactly
//! what the model alone gives, `best-iou` keeps (and feeds back) the candidate with the
//! highest predicted IoU of all four, and asks for the native decoder.

mod common;

use common::model;
use samkit_engine::{upscale_logits, DecoderBackend, Prompt};
use samkit_eval::{point, Click, SamSegmenter, Segmenter, Strategy};

/// On the disk, on the bar outside it (negative), on the bar right of the disk.
const CLICKS: [Click; 3] = [
    Click {
        x: 120,
        y: 80,
        positive: true,
    },
    Click {
        x: 60,
        y: 82,
        positive: false,
    },
    Click {
        x: 150,
        y: 82,
        positive: true,
    },
];

/// Two overlapping shapes (a disk on a bar) on stripes: an ambiguous first click.
fn image() -> image::RgbImage {
    image::RgbImage::from_fn(240, 180, |x, y| {
        let disk = (x as f32 - 120.0).powi(2) + (y as f32 - 80.0).powi(2) <= 40.0f32.powi(2);
        let bar = (40..200).contains(&x) && (70..95).contains(&y);
        if disk {
            image::Rgb([210, 50, 40])
        } else if bar {
            image::Rgb([40, 60, 200])
        } else {
            let v = if (x + y) / 10 % 2 == 0 { 80 } else { 120 };
            image::Rgb([v, v, v + 30])
        }
    })
}

#[test]
fn strategies_choose_among_the_native_candidates() {
    let model = model(DecoderBackend::Native);
    let embedding = model.embed(&image()).unwrap();
    let decoder = model.decoder();
    let sam = SamSegmenter::new(&model, Strategy::Sam).unwrap();
    let best = SamSegmenter::new(&model, Strategy::BestIou).unwrap();
    let clicks = &CLICKS[..2];
    let mut prev = None;
    let mut differ = 0;
    for k in 1..=clicks.len() {
        let clicks = &clicks[..k];
        let alone = Segmenter::predict(&model, &embedding, clicks, prev.as_ref()).unwrap();
        let s = sam.predict(&embedding, clicks, prev.as_ref()).unwrap();
        assert_eq!(s.mask, alone.mask, "sam is the model's own selection");
        assert_eq!(s.state, alone.state);

        let prompt = Prompt {
            points: clicks.iter().map(point).collect(),
            bbox: None,
            mask_input: prev.clone(),
        };
        let decoded = decoder.decode_candidates(&embedding, &prompt).unwrap();
        assert_eq!(decoded.candidates.len(), 4);
        differ += usize::from(decoded.selected != decoded.best_iou());
        let top = decoded
            .candidates
            .iter()
            .map(|c| c.iou)
            .fold(f32::NEG_INFINITY, f32::max);
        let b = best.predict(&embedding, clicks, prev.as_ref()).unwrap();
        let chosen = decoded
            .candidates
            .iter()
            .find(|c| c.low_res == b.state)
            .expect("best-iou feeds back one of the candidates");
        assert_eq!(chosen.iou, top, "the highest predicted IoU");
        assert_eq!(
            b.mask,
            upscale_logits(&chosen.low_res, embedding.original).to_bools(),
            "its mask is that candidate's, upscaled"
        );
        prev = Some(s.state);
    }
    // Otherwise the two strategies would not have been told apart.
    assert!(
        differ > 0,
        "no click where SAM's rule and best-iou disagree"
    );
}

#[test]
fn best_iou_is_refused_on_onnx_runtime() {
    let model = model(DecoderBackend::Onnx);
    let err = SamSegmenter::new(&model, Strategy::BestIou)
        .err()
        .expect("best-iou needs the native decoder")
        .to_string();
    assert!(
        err.contains("native decoder") && err.contains("--strategy sam"),
        "{err}"
    );
    assert!(SamSegmenter::new(&model, Strategy::Sam).is_ok());
}

#[test]
fn prev_or_fresh_keeps_the_decode_whose_kept_mask_predicts_more() {
    let model = model(DecoderBackend::Native);
    let embedding = model.embed(&image()).unwrap();
    let decoder = model.decoder();
    let sam = SamSegmenter::new(&model, Strategy::Sam).unwrap();
    let pof = SamSegmenter::new(&model, Strategy::PrevOrFresh).unwrap();
    let clicks = CLICKS;
    // Click 1 has no previous logits: SAM's rule alone.
    let first = pof.predict(&embedding, &clicks[..1], None).unwrap();
    let plain = sam.predict(&embedding, &clicks[..1], None).unwrap();
    assert_eq!((&first.mask, &first.state), (&plain.mask, &plain.state));
    let mut prev = first.state;
    for k in 2..=clicks.len() {
        let cl = &clicks[..k];
        let prompt = |mask_input| Prompt {
            points: cl.iter().map(point).collect(),
            bbox: None,
            mask_input,
        };
        let with = decoder
            .decode_candidates(&embedding, &prompt(Some(prev.clone())))
            .unwrap();
        let without = decoder
            .decode_candidates(&embedding, &prompt(None))
            .unwrap();
        let kept = |d: &samkit_engine::Decoded| d.candidates[d.selected].clone();
        let expected = if kept(&without).iou > kept(&with).iou {
            kept(&without)
        } else {
            kept(&with)
        };
        let got = pof.predict(&embedding, cl, Some(&prev)).unwrap();
        assert_eq!(got.state, expected.low_res, "click {k}");
        assert_eq!(
            got.mask,
            upscale_logits(&expected.low_res, embedding.original).to_bools()
        );
        prev = got.state;
    }
    let onnx = common::model(DecoderBackend::Onnx);
    let err = SamSegmenter::new(&onnx, Strategy::PrevOrFresh)
        .err()
        .expect("prev-or-fresh needs the native decoder")
        .to_string();
    assert!(
        err.contains("prev-or-fresh") && err.contains("native decoder"),
        "{err}"
    );
}
