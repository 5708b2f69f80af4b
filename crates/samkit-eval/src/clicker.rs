//! The standard simulated user (RITM's `Clicker`, used by FocalClick, SimpleClick and the SAM
//! evaluations): the next click goes to the error pixel farthest from the error's boundary.
//!
//! Given the ground truth `GT`, the ignore map and the current prediction `P`:
//! 1. error maps over non-ignored pixels: `FN = GT ∧ ¬P`, `FP = ¬GT ∧ P`;
//! 2. each map padded by 1 px of background (the image border counts as boundary) and its
//!    exact Euclidean distance transform taken ([`crate::edt::padded_edt_sq`]);
//! 3. both transforms set to 0 at every pixel already clicked (those pixels can never be
//!    chosen again);
//! 4. if `max(DT_FN) > max(DT_FP)` (strictly) the click is positive at the argmax of
//!    `DT_FN`, else negative at the argmax of `DT_FP`; ties go to the first pixel in
//!    row-major order.
//!
//! **Stopping** (not in RITM, which would click "negative at (0, 0)"): when both maxima are
//! 0 there is no unclicked error pixel left (the prediction is perfect over the non-ignored
//! pixels, or every remaining error pixel has been clicked already), and [`next_click`]
//! returns `None`: the run stops and the last IoU counts for the remaining clicks. This is
//! what the reference does: on GrabCut's `fullmoon` it stops once IoU reaches 1.0 (6 clicks in
//! `prev`, 7 in `nomask`), hence its 986/987 decoder calls instead of 1000.
//!
//! Squared integer distances compare exactly as the reference's float distances do: distinct
//! integers below 2²⁴ have distinct `f32` square roots.

use crate::edt::padded_edt_sq;

/// One simulated click at integer pixel `(x, y)` of the original image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Click {
    pub x: u32,
    pub y: u32,
    pub positive: bool,
}

/// Ground truth of one instance: `gt` and `ignore` row-major, `width × height`.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub width: usize,
    pub height: usize,
    pub gt: &'a [bool],
    /// Pixels excluded from IoU and click placement (e.g. GrabCut's boundary band).
    pub ignore: &'a [bool],
}

/// The next click for prediction `pred` given the clicks so far, or `None` when no
/// unclicked error pixel is left (see the module docs).
///
/// # Panics
/// If the buffers do not have `width × height` elements (a programming error).
pub fn next_click(target: &Target<'_>, pred: &[bool], clicks: &[Click]) -> Option<Click> {
    let (w, h) = (target.width, target.height);
    assert!(
        target.gt.len() == w * h && target.ignore.len() == w * h && pred.len() == w * h,
        "buffers do not match the target size"
    );
    let mut fn_map = vec![false; w * h];
    let mut fp_map = vec![false; w * h];
    for i in 0..w * h {
        if !target.ignore[i] {
            fn_map[i] = target.gt[i] && !pred[i];
            fp_map[i] = !target.gt[i] && pred[i];
        }
    }
    let (fn_max, fn_at) = farthest(&fn_map, w, h, clicks);
    let (fp_max, fp_at) = farthest(&fp_map, w, h, clicks);
    if fn_max == 0 && fp_max == 0 {
        return None;
    }
    let (positive, at) = if fn_max > fp_max {
        (true, fn_at)
    } else {
        (false, fp_at)
    };
    Some(Click {
        x: (at % w) as u32,
        y: (at / w) as u32,
        positive,
    })
}

/// Max of the padded transform with clicked pixels zeroed, and its first row-major argmax.
fn farthest(map: &[bool], w: usize, h: usize, clicks: &[Click]) -> (u64, usize) {
    if !map.iter().any(|&b| b) {
        return (0, 0);
    }
    let mut dt = padded_edt_sq(map, w, h);
    for c in clicks {
        let (x, y) = (c.x as usize, c.y as usize);
        if x < w && y < h {
            dt[y * w + x] = 0;
        }
    }
    let mut best = (0u64, 0usize);
    for (i, &d) in dt.iter().enumerate() {
        if d > best.0 {
            best = (d, i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(w: usize, h: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> Vec<bool> {
        (0..w * h)
            .map(|i| (x0..x1).contains(&(i % w)) && (y0..y1).contains(&(i / w)))
            .collect()
    }

    #[test]
    fn first_click_is_the_centre_of_the_object() {
        let (w, h) = (20, 10);
        let gt = rect(w, h, 2, 1, 9, 8); // 7×7 square: centre (5, 4)
        let ignore = vec![false; w * h];
        let t = Target {
            width: w,
            height: h,
            gt: &gt,
            ignore: &ignore,
        };
        let c = next_click(&t, &vec![false; w * h], &[]).unwrap();
        assert_eq!(
            c,
            Click {
                x: 5,
                y: 4,
                positive: true
            }
        );
    }

    #[test]
    fn border_counts_as_boundary_and_ties_go_row_major() {
        // Whole image is object: every pixel of the middle row of a 4×3 image is at distance 2
        // from the padded border except the ends; first one in row-major order wins.
        let (w, h) = (4, 3);
        let gt = vec![true; w * h];
        let ignore = vec![false; w * h];
        let t = Target {
            width: w,
            height: h,
            gt: &gt,
            ignore: &ignore,
        };
        let c = next_click(&t, &vec![false; w * h], &[]).unwrap();
        assert_eq!((c.x, c.y, c.positive), (1, 1, true));
        // Clicked pixels are zeroed: the next best is the other tie.
        let c2 = next_click(&t, &vec![false; w * h], &[c]).unwrap();
        assert_eq!((c2.x, c2.y), (2, 1));
    }

    #[test]
    fn equal_distances_give_a_negative_click() {
        // FN and FP regions of the same shape: max(FN) > max(FP) fails, so negative.
        let (w, h) = (12, 5);
        let gt = rect(w, h, 0, 0, 6, 5);
        let pred = rect(w, h, 6, 0, 12, 5);
        let ignore = vec![false; w * h];
        let t = Target {
            width: w,
            height: h,
            gt: &gt,
            ignore: &ignore,
        };
        let c = next_click(&t, &pred, &[]).unwrap();
        assert!(!c.positive);
        assert!(c.x >= 6);
    }

    #[test]
    fn ignored_pixels_are_not_errors_and_perfect_stops() {
        let (w, h) = (8, 8);
        let gt = rect(w, h, 2, 2, 6, 6);
        let ignore = rect(w, h, 0, 0, 8, 1); // top row ignored
        let mut pred = gt.clone();
        pred[3] = true; // a false positive, but in the ignored row
        let t = Target {
            width: w,
            height: h,
            gt: &gt,
            ignore: &ignore,
        };
        assert_eq!(next_click(&t, &pred, &[]), None);
        pred[8 * 7] = true; // a real false positive at (0, 7)
        assert_eq!(
            next_click(&t, &pred, &[]),
            Some(Click {
                x: 0,
                y: 7,
                positive: false
            })
        );
        // Once that pixel has been clicked, nothing is left to click.
        let clicked = [Click {
            x: 0,
            y: 7,
            positive: false,
        }];
        assert_eq!(next_click(&t, &pred, &clicked), None);
    }
}
