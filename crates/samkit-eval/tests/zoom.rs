//! Zoom-in refinement with the real default model on a drawn image: the whole-image
//! protocol before `from_click`, then decoding on a crop (one extra encoder pass, reused
//! while the region stays inside it), background outside the crop, and a crop that is the
//! whole image giving SAM's own result.

mod common;

use samkit_engine::DecoderBackend;
use samkit_eval::{
    Click, FlipSegmenter, SamSegmenter, Segmenter, Strategy, ZoomConfig, ZoomSegmenter,
};

/// A red disk (radius 30 at 100, 80) on grey stripes, 320 × 200.
fn image() -> image::RgbImage {
    image::RgbImage::from_fn(320, 200, |x, y| {
        if (x as f32 - 100.0).powi(2) + (y as f32 - 80.0).powi(2) <= 30.0f32.powi(2) {
            image::Rgb([210, 50, 40])
        } else {
            let v = if (x + y) / 12 % 2 == 0 { 90 } else { 130 };
            image::Rgb([v, v, v + 20])
        }
    })
}

/// The disk of [`image`] as a mask.
fn disk() -> Vec<bool> {
    (0..200)
        .flat_map(|y| {
            (0..320).map(move |x| (x as f32 - 100.0).powi(2) + (y as f32 - 80.0).powi(2) <= 900.0)
        })
        .collect()
}

fn iou(a: &[bool], b: &[bool]) -> f64 {
    let inter = a.iter().zip(b).filter(|(&x, &y)| x && y).count();
    let union = a.iter().zip(b).filter(|(&x, &y)| x || y).count();
    inter as f64 / union.max(1) as f64
}

const CLICKS: [Click; 3] = [
    Click {
        x: 100,
        y: 80,
        positive: true,
    },
    Click {
        x: 110,
        y: 95,
        positive: true,
    },
    Click {
        x: 90,
        y: 70,
        positive: true,
    },
];

#[test]
fn zoom_in_decodes_on_a_reused_crop_from_the_second_click() {
    let model = common::model(DecoderBackend::Native);
    let img = image();
    let sam = SamSegmenter::new(&model, Strategy::Sam).unwrap();
    let zoom = ZoomSegmenter::new(
        SamSegmenter::new(&model, Strategy::Sam).unwrap(),
        ZoomConfig {
            expand: 1.4,
            min_size: 120,
            from_click: 2,
            min_gain: 0.0,
        },
    );
    let whole = sam.embed(&img).unwrap();
    let emb = zoom.embed(&img).unwrap();

    // Click 1: the whole image, exactly SAM's mask.
    let first = zoom.predict(&emb, &CLICKS[..1], None).unwrap();
    let plain = sam.predict(&whole, &CLICKS[..1], None).unwrap();
    assert_eq!(first.mask, plain.mask);
    assert_eq!(zoom.encoder_passes(), 0);

    // Click 2: a crop around the disk, encoded once; nothing outside it.
    let second = zoom
        .predict(&emb, &CLICKS[..2], Some(&first.state))
        .unwrap();
    assert_eq!(zoom.encoder_passes(), 1);
    let disk = disk();
    assert!(
        iou(&second.mask, &disk) > 0.85,
        "IoU {}",
        iou(&second.mask, &disk)
    );
    // The crop is at least 120 px around the disk's centre: nothing right of x = 250.
    assert!((0..200).all(|y| (250..320).all(|x| !second.mask[y * 320 + x])));

    // Click 3, inside the same region: the crop's embedding is reused.
    let third = zoom.predict(&emb, &CLICKS, Some(&second.state)).unwrap();
    assert_eq!(zoom.encoder_passes(), 1, "the crop is reused");
    assert!(iou(&third.mask, &disk) > 0.85);
}

#[test]
fn a_crop_as_large_as_the_image_gives_sams_masks() {
    let model = common::model(DecoderBackend::Native);
    let img = image();
    let sam = SamSegmenter::new(&model, Strategy::Sam).unwrap();
    let zoom = ZoomSegmenter::new(
        SamSegmenter::new(&model, Strategy::Sam).unwrap(),
        ZoomConfig {
            expand: 1.4,
            min_size: 10_000,
            from_click: 2,
            min_gain: 0.0,
        },
    );
    let whole = sam.embed(&img).unwrap();
    let emb = zoom.embed(&img).unwrap();
    let (mut zs, mut ss) = (None, None);
    for k in 1..=3 {
        let z = zoom.predict(&emb, &CLICKS[..k], zs.as_ref()).unwrap();
        let s = sam.predict(&whole, &CLICKS[..k], ss.as_ref()).unwrap();
        // Click 2 feeds the resampled logits instead of SAM's own low-res ones; the
        // masks stay nearly the same.
        assert!(
            iou(&z.mask, &s.mask) > 0.97,
            "click {k}: IoU {}",
            iou(&z.mask, &s.mask)
        );
        zs = Some(z.state);
        ss = Some(s.state);
    }
    assert_eq!(zoom.encoder_passes(), 1);
}

#[test]
fn by_default_an_image_the_model_sees_whole_is_never_zoomed() {
    // 320 × 200 is enlarged to 1024 already: no crop shows a pixel more, so the default
    // (gain above 1) decodes every click on the whole image, exactly as SAM alone.
    let model = common::model(DecoderBackend::Native);
    let img = image();
    let sam = SamSegmenter::new(&model, Strategy::Sam).unwrap();
    let zoom = ZoomSegmenter::new(
        SamSegmenter::new(&model, Strategy::Sam).unwrap(),
        ZoomConfig::default(),
    );
    let whole = sam.embed(&img).unwrap();
    let emb = zoom.embed(&img).unwrap();
    let (mut zs, mut ss) = (None, None);
    for k in 1..=3 {
        let z = zoom.predict(&emb, &CLICKS[..k], zs.as_ref()).unwrap();
        let s = sam.predict(&whole, &CLICKS[..k], ss.as_ref()).unwrap();
        assert_eq!(z.mask, s.mask, "click {k}");
        zs = Some(z.state);
        ss = Some(s.state);
    }
    assert_eq!(zoom.encoder_passes(), 0);
}

#[test]
fn flip_averages_the_image_and_its_mirror() {
    // The disk is off-centre, so the mirror image's mask lands elsewhere unless the
    // mirror's logits are flipped back: the averaged mask must still be the disk.
    let model = common::model(DecoderBackend::Native);
    let img = image();
    let flip = FlipSegmenter::new(&model);
    let emb = flip.embed(&img).unwrap();
    let disk = disk();
    let first = flip.predict(&emb, &CLICKS[..1], None).unwrap();
    assert!(
        iou(&first.mask, &disk) > 0.85,
        "IoU {}",
        iou(&first.mask, &disk)
    );
    let second = flip
        .predict(&emb, &CLICKS[..2], Some(&first.state))
        .unwrap();
    assert!(
        iou(&second.mask, &disk) > 0.85,
        "IoU {}",
        iou(&second.mask, &disk)
    );
}
