//! Exact Euclidean distance transform on integer squared distances.
//!
//! For every foreground pixel, the squared Euclidean distance to the nearest background
//! pixel (0 on background). This is what OpenCV's `distanceTransform(DIST_L2, 0)` computes
//! (exactly, as floats) in the reference clicker; working on integer squared distances
//! makes "the farthest pixel" and ties exact, with no float rounding at all.
//!
//! Why hand-written: the click protocol needs the *exact* transform (not a chamfer
//! approximation), on integers, with the image border counting as background (the protocol's
//! 1-px padding, see [`padded_edt_sq`]). No maintained crate offers exactly that:
//! `imageproc::distance_transform` (0.27) returns `u8` distances (L2 rounded up with `ceil`,
//! saturating at 255 px), so ties and near-ties are lost;
//! `imageproc::euclidean_squared_distance_transform` is Felzenszwalb–Huttenlocher in `f64`
//! (float envelope intersections), measures the distance *to* non-zero pixels and has no
//! border rule, so it would need an inverted, padded copy of every error map and float
//! comparisons for the argmax. The algorithm below is ~60 lines and is checked against a
//! brute-force transform on random masks.
//!
//! Algorithm: Meijster, Roerdink & Hesselink, "A general algorithm for computing distance
//! transforms in linear time" (2000). Phase 1 finds, in each column, the distance `g` to the
//! nearest background pixel of that column. Phase 2, per row, takes the lower envelope of the
//! parabolas `f_i(x) = (x − i)² + g(i)²` with integer separation points, so
//! `dt(x, y) = min_i (x − i)² + g(i, y)²`, which is exactly the squared EDT.

/// Squared distance reported for a foreground pixel when the image has no background at all.
pub const NO_BACKGROUND: u64 = u64::MAX;

/// Exact squared EDT of a `width × height` row-major mask: `true` = foreground (gets its
/// squared distance to the nearest `false` pixel), `false` = background (0). Outside the
/// image is *not* background; if the mask has no background pixel at all, every pixel gets
/// [`NO_BACKGROUND`].
///
/// # Panics
/// If `mask.len() != width * height` (a programming error, never user input).
pub fn edt_sq(mask: &[bool], width: usize, height: usize) -> Vec<u64> {
    assert_eq!(
        mask.len(),
        width * height,
        "mask size does not match width × height"
    );
    if mask.is_empty() {
        return Vec::new();
    }
    // "Infinity" for phase 1: larger than any real distance within the image, small enough
    // that its square does not overflow. Any pixel whose result is ≥ INF² had no background.
    let inf = (width + height) as i64;

    // Phase 1: g(x, y) = distance from (x, y) to the nearest background pixel in column x.
    let mut g = vec![0i64; width * height];
    for x in 0..width {
        let at = |y: usize| y * width + x;
        g[at(0)] = if mask[at(0)] { inf } else { 0 };
        for y in 1..height {
            g[at(y)] = if mask[at(y)] {
                (g[at(y - 1)] + 1).min(inf)
            } else {
                0
            };
        }
        for y in (0..height - 1).rev() {
            if g[at(y + 1)] < g[at(y)] {
                g[at(y)] = g[at(y + 1)] + 1;
            }
        }
    }

    // Phase 2: per row, the lower envelope of the parabolas f_i(x) = (x − i)² + g(i)².
    let mut out = vec![0u64; width * height];
    let mut s = vec![0usize; width]; // apex column of each envelope segment
    let mut t = vec![0usize; width]; // first column where that segment is the minimum
    for y in 0..height {
        let row = &g[y * width..(y + 1) * width];
        let f = |x: usize, i: usize| {
            let d = x as i64 - i as i64;
            d * d + row[i] * row[i]
        };
        // First integer column from which parabola u (u > i) is at most parabola i:
        // floor((u² − i² + g(u)² − g(i)²) / (2(u − i))) + 1.
        let sep = |i: usize, u: usize| {
            let (i64_, u64_) = (i as i64, u as i64);
            let num = u64_ * u64_ - i64_ * i64_ + row[u] * row[u] - row[i] * row[i];
            num.div_euclid(2 * (u64_ - i64_)) + 1
        };
        let mut q = 0usize; // index of the last segment (q + 1 segments)
        s[0] = 0;
        t[0] = 0;
        for u in 1..width {
            // Drop segments that parabola u beats at their own start.
            let mut empty = false;
            while f(t[q], s[q]) > f(t[q], u) {
                if q == 0 {
                    empty = true;
                    break;
                }
                q -= 1;
            }
            if empty {
                s[0] = u;
                t[0] = 0;
            } else {
                let w = sep(s[q], u);
                if w < width as i64 {
                    q += 1;
                    s[q] = u;
                    t[q] = w as usize;
                }
            }
        }
        for x in (0..width).rev() {
            let d = f(x, s[q]);
            out[y * width + x] = if d >= inf * inf {
                NO_BACKGROUND
            } else {
                d as u64
            };
            if x == t[q] && q > 0 {
                q -= 1;
            }
        }
    }
    out
}

/// The protocol's transform: the mask padded by 1 px of background on every side (so the
/// image border counts as boundary: a foreground pixel on the edge is at distance 1), the
/// squared EDT taken, and the padding cropped off again. Never returns [`NO_BACKGROUND`].
pub fn padded_edt_sq(mask: &[bool], width: usize, height: usize) -> Vec<u64> {
    assert_eq!(
        mask.len(),
        width * height,
        "mask size does not match width × height"
    );
    let (pw, ph) = (width + 2, height + 2);
    let mut padded = vec![false; pw * ph];
    for y in 0..height {
        padded[(y + 1) * pw + 1..(y + 1) * pw + 1 + width]
            .copy_from_slice(&mask[y * width..(y + 1) * width]);
    }
    let dt = edt_sq(&padded, pw, ph);
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        out.extend_from_slice(&dt[(y + 1) * pw + 1..(y + 1) * pw + 1 + width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: min over all background pixels of the squared distance.
    fn brute(mask: &[bool], w: usize, h: usize) -> Vec<u64> {
        let mut out = vec![0u64; w * h];
        for y in 0..h {
            for x in 0..w {
                if !mask[y * w + x] {
                    continue;
                }
                let mut best = NO_BACKGROUND;
                for by in 0..h {
                    for bx in 0..w {
                        if !mask[by * w + bx] {
                            let (dx, dy) = (x.abs_diff(bx) as u64, y.abs_diff(by) as u64);
                            best = best.min(dx * dx + dy * dy);
                        }
                    }
                }
                out[y * w + x] = best;
            }
        }
        out
    }

    fn mask_strategy() -> impl Strategy<Value = (Vec<bool>, usize, usize)> {
        (1usize..14, 1usize..14, 0.0f64..1.0).prop_flat_map(|(w, h, density)| {
            (
                proptest::collection::vec(proptest::bool::weighted(density), w * h),
                Just(w),
                Just(h),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn matches_brute_force((mask, w, h) in mask_strategy()) {
            prop_assert_eq!(edt_sq(&mask, w, h), brute(&mask, w, h));
        }

        #[test]
        fn padded_matches_brute_force_on_padded_mask((mask, w, h) in mask_strategy()) {
            let mut padded = vec![false; (w + 2) * (h + 2)];
            for y in 0..h {
                for x in 0..w {
                    padded[(y + 1) * (w + 2) + x + 1] = mask[y * w + x];
                }
            }
            let full = brute(&padded, w + 2, h + 2);
            let want: Vec<u64> = (0..h)
                .flat_map(|y| (0..w).map(move |x| (y, x)))
                .map(|(y, x)| full[(y + 1) * (w + 2) + x + 1])
                .collect();
            prop_assert_eq!(padded_edt_sq(&mask, w, h), want);
        }
    }

    #[test]
    fn hand_checked_cases() {
        // A 5×5 square with the border as boundary: centre at distance 3, corners at 1.
        let dt = padded_edt_sq(&[true; 25], 5, 5);
        assert_eq!(dt[2 * 5 + 2], 9);
        assert_eq!(dt[0], 1);
        assert_eq!(dt[5 + 1], 4);
        // All foreground and unpadded: no background anywhere.
        assert!(edt_sq(&[true; 6], 3, 2).iter().all(|&d| d == NO_BACKGROUND));
        // Diagonal distance is Euclidean, not chamfer: (0,0) background, (3,4) → 25.
        let mut m = vec![true; 5 * 4];
        m[0] = false;
        assert_eq!(edt_sq(&m, 4, 5)[4 * 4 + 3], 25);
        assert!(edt_sq(&[], 0, 0).is_empty());
    }
}
