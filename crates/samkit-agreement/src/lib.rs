//! `samkit-agreement`: how consistently annotators label the same images.
//!
//! Two annotators' instances of one image are matched one to one, per category, by mask
//! IoU: greedily, the pair with the highest IoU first (ties: the lower ids first), as
//! COCO's evaluation matches detections; pairs that do not overlap are never matched.
//! From the matches: the mean IoU of the matched pairs, F1 at IoU thresholds (a match
//! counts at threshold `t` when its IoU ≥ `t`; `F1 = 2·TP / (n_a + n_b)`), and what each
//! annotator drew that the other did not. Pure computation: the store and the report
//! around it are the server's.

use samkit_mask::CocoRle;
use serde::Serialize;

/// One instance as the comparison sees it.
#[derive(Debug, Clone)]
pub struct Annotation {
    pub id: i64,
    pub category_id: i64,
    pub mask: CocoRle,
}

/// A matched pair: `a`'s instance, `b`'s instance and their mask IoU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Match {
    pub a: i64,
    pub b: i64,
    pub iou: f64,
}

/// Two annotators' instances of one image compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub matches: Vec<Match>,
    pub n_a: usize,
    pub n_b: usize,
}

impl Comparison {
    /// Instances of `a` matched to nothing of `b`'s.
    pub fn only_a(&self) -> usize {
        self.n_a - self.matches.len()
    }

    pub fn only_b(&self) -> usize {
        self.n_b - self.matches.len()
    }

    /// Matched pairs with IoU ≥ `t`.
    pub fn true_positives(&self, t: f64) -> usize {
        self.matches.iter().filter(|m| m.iou >= t).count()
    }

    /// F1 at IoU `t`; `None` when neither drew anything.
    pub fn f1(&self, t: f64) -> Option<f64> {
        let n = self.n_a + self.n_b;
        (n > 0).then(|| 2.0 * self.true_positives(t) as f64 / n as f64)
    }

    /// Mean IoU of the matched pairs; `None` without any.
    pub fn mean_iou(&self) -> Option<f64> {
        (!self.matches.is_empty())
            .then(|| self.matches.iter().map(|m| m.iou).sum::<f64>() / self.matches.len() as f64)
    }

    /// Several comparisons pooled (all pairs of an annotator pair over their shared
    /// images): the matches and counts added up.
    pub fn pooled<'a>(all: impl IntoIterator<Item = &'a Comparison>) -> Comparison {
        let mut out = Comparison::default();
        for c in all {
            out.matches.extend_from_slice(&c.matches);
            out.n_a += c.n_a;
            out.n_b += c.n_b;
        }
        out
    }
}

/// Masks of different sizes (a damaged row) cannot be compared.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeMismatch {
    pub a: i64,
    pub b: i64,
}

impl std::fmt::Display for SizeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "instances {} and {} have masks of different sizes",
            self.a, self.b
        )
    }
}

impl std::error::Error for SizeMismatch {}

/// Matches `a`'s and `b`'s instances of one image one to one, per category, by IoU.
pub fn compare(a: &[Annotation], b: &[Annotation]) -> Result<Comparison, SizeMismatch> {
    let mut candidates = Vec::new();
    for x in a {
        for y in b.iter().filter(|y| y.category_id == x.category_id) {
            let iou = x
                .mask
                .iou(&y.mask)
                .map_err(|_| SizeMismatch { a: x.id, b: y.id })?;
            if iou > 0.0 {
                candidates.push(Match {
                    a: x.id,
                    b: y.id,
                    iou,
                });
            }
        }
    }
    candidates.sort_by(|p, q| {
        q.iou
            .total_cmp(&p.iou)
            .then(p.a.cmp(&q.a))
            .then(p.b.cmp(&q.b))
    });
    let mut used_a = std::collections::HashSet::new();
    let mut used_b = std::collections::HashSet::new();
    let mut matches = Vec::new();
    for m in candidates {
        if used_a.contains(&m.a) || used_b.contains(&m.b) {
            continue;
        }
        used_a.insert(m.a);
        used_b.insert(m.b);
        matches.push(m);
    }
    matches.sort_by_key(|m| (m.a, m.b));
    Ok(Comparison {
        matches,
        n_a: a.len(),
        n_b: b.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10 × 10 image's mask covering columns `x0..x1` of rows `y0..y1`.
    fn rect(id: i64, category_id: i64, x0: u32, y0: u32, x1: u32, y1: u32) -> Annotation {
        let bools: Vec<bool> = (0..100)
            .map(|i| {
                let (x, y) = (i % 10, i / 10);
                x >= x0 && x < x1 && y >= y0 && y < y1
            })
            .collect();
        let m = samkit_mask::Mask::from_bools(10, 10, &bools).unwrap();
        Annotation {
            id,
            category_id,
            mask: CocoRle::encode(&m),
        }
    }

    #[test]
    fn identical_sets_agree_fully() {
        let a = [rect(1, 1, 0, 0, 4, 4), rect(2, 2, 5, 5, 9, 9)];
        let b = [rect(11, 1, 0, 0, 4, 4), rect(12, 2, 5, 5, 9, 9)];
        let c = compare(&a, &b).unwrap();
        assert_eq!(c.matches.len(), 2);
        assert_eq!(c.mean_iou(), Some(1.0));
        assert_eq!((c.f1(0.5), c.f1(0.75)), (Some(1.0), Some(1.0)));
        assert_eq!((c.only_a(), c.only_b()), (0, 0));
    }

    #[test]
    fn hand_made_case_gives_the_numbers_worked_out_by_hand() {
        // a1 = 4x4 (16 px); b1 = 4x3 inside it (12 px): IoU 12/16 = 0.75.
        // a2 = 2x2 (4 px); b2 = 2x2 shifted by one column: overlap 2, union 6, IoU 1/3.
        // a3 (category 2) has a twin b3 of category 1 at the same place: never matched.
        // b4 overlaps a1 too (IoU 4/20), but a1 went to b1 (higher IoU) first.
        let a = [
            rect(1, 1, 0, 0, 4, 4),
            rect(2, 1, 6, 0, 8, 2),
            rect(3, 2, 0, 6, 3, 9),
        ];
        let b = [
            rect(11, 1, 0, 0, 4, 3),
            rect(12, 1, 7, 0, 9, 2),
            rect(13, 1, 0, 6, 3, 9),
            rect(14, 1, 2, 2, 6, 4),
        ];
        let c = compare(&a, &b).unwrap();
        let pairs: Vec<(i64, i64)> = c.matches.iter().map(|m| (m.a, m.b)).collect();
        assert_eq!(pairs, [(1, 11), (2, 12)]);
        assert!((c.matches[0].iou - 0.75).abs() < 1e-12);
        assert!((c.matches[1].iou - 1.0 / 3.0).abs() < 1e-12);
        assert!((c.mean_iou().unwrap() - (0.75 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        // TP@0.5 = 1, TP@0.75 = 1 (0.75 ≥ 0.75): F1 = 2 / 7 for both.
        assert!((c.f1(0.5).unwrap() - 2.0 / 7.0).abs() < 1e-12);
        assert!((c.f1(0.75).unwrap() - 2.0 / 7.0).abs() < 1e-12);
        assert_eq!((c.only_a(), c.only_b()), (1, 2));

        let pooled = Comparison::pooled([&c, &compare(&a[..1], &b[..1]).unwrap()]);
        assert_eq!((pooled.n_a, pooled.n_b, pooled.matches.len()), (4, 5, 3));
        assert!((pooled.f1(0.5).unwrap() - 4.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn empty_sides_and_ties() {
        let c = compare(&[], &[]).unwrap();
        assert_eq!((c.f1(0.5), c.mean_iou()), (None, None));
        let c = compare(&[rect(1, 1, 0, 0, 2, 2)], &[]).unwrap();
        assert_eq!((c.f1(0.5), c.only_a()), (Some(0.0), 1));
        // Two equal candidates for one instance: the lower id wins, the same every time.
        let a = [rect(1, 1, 0, 0, 2, 2)];
        let b = [rect(12, 1, 0, 0, 2, 2), rect(11, 1, 0, 0, 2, 2)];
        assert_eq!(compare(&a, &b).unwrap().matches[0].b, 11);
        let mut small = rect(9, 1, 0, 0, 2, 2);
        small.mask = CocoRle::from_counts(2, 2, vec![0, 4]).unwrap();
        assert_eq!(
            compare(&[small], &b).unwrap_err(),
            SizeMismatch { a: 9, b: 12 }
        );
    }
}
