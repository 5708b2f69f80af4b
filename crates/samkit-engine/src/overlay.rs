//! A picture of a prediction: the image with the mask tinted, its outline drawn and the
//! prompt marked (green = positive point, red = negative point, yellow = box).

use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_circle_mut, draw_hollow_rect_mut};
use imageproc::rect::Rect;

use crate::prompt::{PointLabel, Prompt};

const TINT: [u8; 3] = [30, 144, 255];
const OUTLINE: [u8; 3] = [255, 255, 255];

/// Draws `mask` (row-major, `true` = object, same size as `img`) and `prompt` on a copy
/// of `img`.
pub fn render(img: &RgbImage, mask: &[bool], prompt: &Prompt) -> RgbImage {
    let (w, h) = img.dimensions();
    assert_eq!(mask.len(), (w * h) as usize, "mask and image sizes differ");
    let mut out = img.clone();
    let at = |x: i64, y: i64| {
        x >= 0 && y >= 0 && x < w as i64 && y < h as i64 && mask[(y * w as i64 + x) as usize]
    };
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            if !at(x, y) {
                continue;
            }
            let px = out.get_pixel_mut(x as u32, y as u32);
            let edge = !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1));
            if edge {
                px.0 = OUTLINE;
            } else {
                for (v, t) in px.0.iter_mut().zip(TINT) {
                    *v = ((*v as u16 + t as u16) / 2) as u8;
                }
            }
        }
    }
    let radius = ((w.max(h) as f32) / 120.0).max(3.0) as i32;
    if let Some(b) = prompt.bbox {
        let r = Rect::at(b.x0 as i32, b.y0 as i32)
            .of_size(((b.x1 - b.x0) as u32).max(1), ((b.y1 - b.y0) as u32).max(1));
        draw_hollow_rect_mut(&mut out, r, Rgb([255, 215, 0]));
    }
    for p in &prompt.points {
        let colour = match p.label {
            PointLabel::Positive => Rgb([0, 200, 0]),
            PointLabel::Negative => Rgb([220, 0, 0]),
        };
        let c = (p.x.round() as i32, p.y.round() as i32);
        draw_filled_circle_mut(&mut out, c, radius, colour);
        draw_hollow_circle_mut(&mut out, c, radius, Rgb([255, 255, 255]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::Point;

    #[test]
    fn tints_inside_outlines_edge_and_marks_points() {
        let img = RgbImage::from_pixel(40, 40, Rgb([0, 0, 0]));
        let mask: Vec<bool> = (0..1600)
            .map(|i| (10..30).contains(&(i % 40)) && (10..30).contains(&(i / 40)))
            .collect();
        let prompt = Prompt {
            points: vec![Point {
                x: 2.0,
                y: 2.0,
                label: PointLabel::Negative,
            }],
            ..Default::default()
        };
        let out = render(&img, &mask, &prompt);
        assert_eq!(out.get_pixel(20, 20).0, [15, 72, 127]);
        assert_eq!(out.get_pixel(10, 20).0, OUTLINE);
        assert_eq!(out.get_pixel(35, 35).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(2, 2).0, [220, 0, 0]);
    }
}
