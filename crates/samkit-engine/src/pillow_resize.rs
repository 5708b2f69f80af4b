//! Pillow's bilinear resize, reproduced to the byte.
//!
//! Hand-written because no maintained crate matches Pillow exactly: `fast_image_resize`'s
//! bilinear convolution uses the same filter but different fixed-point precision, and
//! differs from Pillow by one level in 14.6 M of the bytes of the 50 GrabCut images
//! (checked by `tests/resize_pillow.rs` while it was used). segment-anything resizes
//! through Pillow, so SAM's embeddings are only reproduced with Pillow's exact bytes.
//!
//! The algorithm is Pillow's `Resample.c` for 8-bit images: a triangle filter whose
//! support grows with the downscale factor, coefficients normalised in f64 and then
//! rounded to 22-bit fixed point, a horizontal pass into 8-bit rows, then a vertical pass.

use image::RgbImage;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first input index, and fixed-point weights for the inputs from it.
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    ksize: usize,
    weights: Vec<i32>,
}

fn precompute(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the bilinear filter's support is 1
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // `as i64` truncates toward zero, as C's `(int)` does.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let w = (1.0 - t.abs()).max(0.0);
            *kx = w;
            ww += w;
        }
        for x in 0..xmax {
            let w = if ww != 0.0 { k[x] / ww } else { k[x] };
            let f = w * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if w < 0.0 {
                (-0.5 + f) as i32
            } else {
                (0.5 + f) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Coeffs {
        bounds,
        ksize,
        weights,
    }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes an RGB image exactly as Pillow's `Image.resize(size, Image.BILINEAR)`.
pub fn resize_bilinear(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    let (out_w, out_h) = (width as usize, height as usize);
    let src = img.as_raw();
    let horiz = precompute(in_w, out_w);
    let vert = precompute(in_h, out_h);
    let half = 1i32 << (PRECISION_BITS - 1);

    // Horizontal pass over only the rows the vertical pass will read.
    let (row_first, row_last) = if in_w != out_w {
        let last = vert.bounds[out_h - 1];
        (vert.bounds[0].0, last.0 + last.1)
    } else {
        (0, in_h)
    };
    let tmp_h = row_last - row_first;
    let tmp: Vec<u8> = if in_w != out_w {
        let mut tmp = vec![0u8; tmp_h * out_w * 3];
        for y in 0..tmp_h {
            let row = &src[(y + row_first) * in_w * 3..(y + row_first + 1) * in_w * 3];
            let out = &mut tmp[y * out_w * 3..(y + 1) * out_w * 3];
            for (xx, &(xmin, xmax)) in horiz.bounds.iter().enumerate() {
                let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + xmax];
                let mut acc = [half; 3];
                for (x, &w) in k.iter().enumerate() {
                    let p = &row[(x + xmin) * 3..(x + xmin) * 3 + 3];
                    for c in 0..3 {
                        acc[c] += p[c] as i32 * w;
                    }
                }
                for c in 0..3 {
                    out[xx * 3 + c] = clip8(acc[c]);
                }
            }
        }
        tmp
    } else {
        src.clone()
    };
    if in_h == out_h {
        return RgbImage::from_raw(width, height, tmp).expect("sizes match");
    }

    let stride = out_w * 3;
    let mut out = vec![0u8; out_h * stride];
    for (yy, &(ymin, ymax)) in vert.bounds.iter().enumerate() {
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + ymax];
        let ymin = ymin - row_first;
        let dst = &mut out[yy * stride..(yy + 1) * stride];
        for (i, d) in dst.iter_mut().enumerate() {
            let mut acc = half;
            for (y, &w) in k.iter().enumerate() {
                acc += tmp[(y + ymin) * stride + i] as i32 * w;
            }
            *d = clip8(acc);
        }
    }
    RgbImage::from_raw(width, height, out).expect("sizes match")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_constant_images_are_preserved() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
        assert_eq!(resize_bilinear(&img, 7, 5), img);
        let flat = RgbImage::from_pixel(13, 9, image::Rgb([200, 100, 3]));
        let r = resize_bilinear(&flat, 40, 3);
        assert!(r.pixels().all(|p| p.0 == [200, 100, 3]));
    }
}
