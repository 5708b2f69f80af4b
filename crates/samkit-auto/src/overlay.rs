//! A picture of every mask of an image, each in its own colour (what SAM's notebook
//! `show_anns` draws: largest first so small masks stay visible, 35 % opaque).

use image::{Rgb, RgbImage};
use samkit_mask::CocoRle;

const OPACITY: f32 = 0.35;

/// The `k`-th colour: hues a golden angle apart, so neighbours in the list differ.
pub fn colour(k: usize) -> [u8; 3] {
    let hue = (k as f32 * 137.507_77).rem_euclid(360.0) / 60.0;
    let x = 1.0 - (hue.rem_euclid(2.0) - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [r, g, b].map(|v: f32| (40.0 + v * 215.0) as u8)
}

/// `image` with `masks` painted over it, the largest first
/// ([`paint_order`](crate::instance_map::paint_order)); masks of another size than
/// the image are skipped.
pub fn render(image: &RgbImage, masks: &[&CocoRle]) -> RgbImage {
    let mut out = image.clone();
    for k in crate::instance_map::paint_order(masks) {
        let rle = masks[k];
        if (rle.width(), rle.height()) != image.dimensions() {
            continue;
        }
        let c = colour(k);
        let mask = rle.decode();
        for (p, &m) in out.pixels_mut().zip(mask.as_slice()) {
            if m != 0 {
                *p = Rgb(std::array::from_fn(|i| {
                    (f32::from(p.0[i]) * (1.0 - OPACITY) + f32::from(c[i]) * OPACITY).round() as u8
                }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_mask::Mask;

    #[test]
    fn masks_are_blended_in_their_colours_and_the_rest_untouched() {
        let img = RgbImage::from_pixel(4, 2, Rgb([100, 100, 100]));
        let big = CocoRle::encode(&Mask::from_fn(4, 2, |x, _| x < 3).unwrap());
        let small = CocoRle::encode(&Mask::from_fn(4, 2, |x, y| x == 0 && y == 0).unwrap());
        let wrong_size = CocoRle::encode(&Mask::from_fn(2, 2, |_, _| true).unwrap());
        let out = render(&img, &[&small, &big, &wrong_size]);
        let blend = |base: f32, c: u8| (base * 0.65 + f32::from(c) * 0.35).round() as u8;
        let (c0, c1) = (colour(0), colour(1));
        assert_ne!(c0, c1);
        // (1, 0): only the big mask (index 1).
        assert_eq!(out.get_pixel(1, 0).0, c1.map(|c| blend(100.0, c)));
        // (0, 0): big first, then the small one over it.
        let under = c1.map(|c| blend(100.0, c));
        assert_eq!(
            out.get_pixel(0, 0).0,
            std::array::from_fn(|i| blend(f32::from(under[i]), c0[i]))
        );
        assert_eq!(out.get_pixel(3, 1).0, [100, 100, 100]);
    }
}
