//! The protocol's figures: IoU over non-ignored pixels, NoC@t, mIoU@k and how many instances
//! never reach a threshold.

/// IoU of `pred` with `gt` over the pixels where `ignore` is false. An empty union (nothing
/// to find and nothing predicted) counts as a perfect 1.0.
pub fn iou(gt: &[bool], pred: &[bool], ignore: &[bool]) -> f64 {
    debug_assert!(gt.len() == pred.len() && gt.len() == ignore.len());
    let (mut inter, mut union) = (0u64, 0u64);
    for ((&g, &p), &ig) in gt.iter().zip(pred).zip(ignore) {
        if !ig {
            inter += u64::from(g && p);
            union += u64::from(g || p);
        }
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Number of clicks needed to reach IoU ≥ `threshold`: the first (1-based) click count
/// whose IoU reaches it, or `max_clicks` if none does.
pub fn noc(ious: &[f64], threshold: f64, max_clicks: usize) -> usize {
    ious.iter()
        .take(max_clicks)
        .position(|&v| v >= threshold)
        .map_or(max_clicks, |i| i + 1)
}

/// Whether IoU ≥ `threshold` is never reached within `max_clicks`.
pub fn never_reaches(ious: &[f64], threshold: f64, max_clicks: usize) -> bool {
    !ious.iter().take(max_clicks).any(|&v| v >= threshold)
}

/// Mean over instances of the IoU after `k` clicks (1-based); `None` if `k` is 0, there are
/// no instances or a curve is shorter than `k`.
pub fn miou_at(curves: &[&[f64]], k: usize) -> Option<f64> {
    if k == 0 || curves.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for c in curves {
        sum += *c.get(k - 1)?;
    }
    Some(sum / curves.len() as f64)
}

/// Mean of `values`, `None` when empty.
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

/// Median of `values`, `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_skips_ignored_pixels() {
        let gt = [true, true, false, false];
        let pred = [true, false, true, false];
        assert_eq!(iou(&gt, &pred, &[false; 4]), 1.0 / 3.0);
        assert_eq!(iou(&gt, &pred, &[false, true, true, false]), 1.0);
        assert_eq!(iou(&[false; 2], &[false; 2], &[false; 2]), 1.0);
    }

    #[test]
    fn noc_and_never() {
        let ious = [0.5, 0.86, 0.84, 0.95];
        assert_eq!(noc(&ious, 0.85, 20), 2);
        assert_eq!(noc(&ious, 0.9, 20), 4);
        assert_eq!(noc(&ious, 0.99, 20), 20);
        assert!(never_reaches(&ious, 0.99, 20));
        assert!(!never_reaches(&ious, 0.9, 20));
        // Reaching it only after max_clicks does not count.
        assert_eq!(noc(&ious, 0.9, 3), 3);
        assert!(never_reaches(&ious, 0.9, 3));
    }

    #[test]
    fn miou_mean_median() {
        let a = [0.5, 1.0];
        let b = [0.7, 0.8];
        assert!((miou_at(&[&a, &b], 1).unwrap() - 0.6).abs() < 1e-12);
        assert_eq!(miou_at(&[&a, &b], 3), None);
        assert_eq!(miou_at(&[&a], 0), None);
        assert_eq!(mean([1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(mean([]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
