//! torchvision's box NMS as SAM calls it: `batched_nms(boxes.float(), scores,
//! zeros, iou_threshold)` on the CPU, float32 arithmetic.
//!
//! Semantics, from torchvision's CPU kernel (`csrc/ops/cpu/nms_kernel.cpp`) and
//! `ops/boxes.py`:
//! * boxes are XYXY as given, `area = (x2 − x1) · (y2 − y1)` (SAM's boxes have
//!   inclusive right/bottom edges, so a one-pixel mask has area 0 — kept as is);
//! * order: `scores.sort(descending=True)`, then each box not yet suppressed is kept
//!   and suppresses every later box whose IoU `inter / (area_i + area_j − inter)`,
//!   in f32, exceeds the threshold (compared as a double: `ovr > iou_threshold`). A
//!   0/0 IoU (two empty boxes) is NaN and suppresses nothing;
//! * the result is the kept indices in processing order;
//! * `batched_nms` with one category: over 1000 boxes (`numel > 4000`) torchvision takes
//!   its "vanilla" path, which marks the kept boxes and sorts the kept indices (ascending)
//!   by score again; otherwise the coordinate trick, which with one category is `nms`
//!   itself.
//!
//! **Ties.** `Tensor.sort` without `stable=True` is `std::sort` on the CPU (PyTorch's
//! `sort_kernel`, comparator `KeyValueCompDesc`: NaN first, then greater values), which
//! does not keep the order of equal scores beyond 16 elements. Ties are frequent in
//! SAM's generator (the cross-crop NMS scores every mask of a crop `1 / crop area`; the
//! small-region re-NMS scores 0 or 1), so the order of equal scores decides which mask
//! survives and the record order. We chose to reproduce the reference on its usual
//! platform exactly: [`sort_desc`] is libstdc++'s `std::sort` (introsort, median of
//! three, final insertion sort, heap-sort fallback) step for step; it gave g++'s
//! permutation on 3,000 random tie-heavy inputs of up to 5,000 scores (two kept as tests). On CUDA PyTorch
//! sorts differently; no choice matches both.

/// torchvision `box_area` in float32.
pub fn box_area(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]) * (b[3] - b[1])
}

/// The float32 IoU of two XYXY boxes exactly as the NMS kernel computes it.
pub fn box_iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / (box_area(a) + box_area(b) - inter)
}

/// torchvision `nms`: kept indices, highest score first.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], iou_threshold: f64) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "one score per box");
    let order = sort_desc(scores);
    let areas: Vec<f32> = boxes.iter().map(box_area).collect();
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let bi = &boxes[i];
        for &j in &order[pos + 1..] {
            if suppressed[j] {
                continue;
            }
            let bj = &boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0])).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1])).max(0.0);
            let inter = w * h;
            let ovr = inter / (areas[i] + areas[j] - inter);
            if f64::from(ovr) > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// torchvision `batched_nms` with every box in one category (as SAM calls it).
pub fn batched_nms(boxes: &[[f32; 4]], scores: &[f32], iou_threshold: f64) -> Vec<usize> {
    if boxes.is_empty() {
        return Vec::new();
    }
    let keep = nms(boxes, scores, iou_threshold);
    if boxes.len() * 4 <= 4000 {
        return keep;
    }
    // `_batched_nms_vanilla`: keep_indices = where(keep_mask), then sorted by score.
    let mut kept = vec![false; boxes.len()];
    for &i in &keep {
        kept[i] = true;
    }
    let indices: Vec<usize> = (0..boxes.len()).filter(|&i| kept[i]).collect();
    let kept_scores: Vec<f32> = indices.iter().map(|&i| scores[i]).collect();
    sort_desc(&kept_scores)
        .into_iter()
        .map(|k| indices[k])
        .collect()
}

/// The permutation `torch.sort(scores, descending=True)` returns on the CPU: libstdc++
/// `std::sort` of (value, index) pairs starting in index order, comparator "NaN first,
/// then greater".
pub fn sort_desc(scores: &[f32]) -> Vec<usize> {
    let mut v: Vec<(f32, usize)> = scores.iter().copied().zip(0..).collect();
    let less = |a: &(f32, usize), b: &(f32, usize)| -> bool {
        (a.0.is_nan() && !b.0.is_nan()) || a.0 > b.0
    };
    libstdcxx::sort(&mut v, &less);
    v.into_iter().map(|(_, i)| i).collect()
}

/// libstdc++'s `std::sort` (GCC `bits/stl_algo.h`, unchanged since GCC 4.x), transcribed
/// operation for operation so that the order of equivalent elements is the same.
mod libstdcxx {
    const THRESHOLD: usize = 16;

    pub fn sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
        let n = v.len();
        if n > 1 {
            let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
            introsort_loop(v, 0, n, depth, less);
            final_insertion_sort(v, 0, n, less);
        }
    }

    fn introsort_loop<T: Copy>(
        v: &mut [T],
        first: usize,
        mut last: usize,
        mut depth: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) {
        while last - first > THRESHOLD {
            if depth == 0 {
                heap_sort(v, first, last, less);
                return;
            }
            depth -= 1;
            let cut = partition_pivot(v, first, last, less);
            introsort_loop(v, cut, last, depth, less);
            last = cut;
        }
    }

    fn partition_pivot<T: Copy>(
        v: &mut [T],
        first: usize,
        last: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) -> usize {
        let mid = first + (last - first) / 2;
        move_median_to_first(v, first, first + 1, mid, last - 1, less);
        unguarded_partition(v, first + 1, last, first, less)
    }

    fn move_median_to_first<T: Copy>(
        v: &mut [T],
        result: usize,
        a: usize,
        b: usize,
        c: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) {
        let pick = if less(&v[a], &v[b]) {
            if less(&v[b], &v[c]) {
                b
            } else if less(&v[a], &v[c]) {
                c
            } else {
                a
            }
        } else if less(&v[a], &v[c]) {
            a
        } else if less(&v[b], &v[c]) {
            c
        } else {
            b
        };
        v.swap(result, pick);
    }

    fn unguarded_partition<T: Copy>(
        v: &mut [T],
        mut first: usize,
        mut last: usize,
        pivot: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) -> usize {
        loop {
            while less(&v[first], &v[pivot]) {
                first += 1;
            }
            last -= 1;
            while less(&v[pivot], &v[last]) {
                last -= 1;
            }
            if first >= last {
                return first;
            }
            v.swap(first, last);
            first += 1;
        }
    }

    fn final_insertion_sort<T: Copy>(
        v: &mut [T],
        first: usize,
        last: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) {
        if last - first > THRESHOLD {
            insertion_sort(v, first, first + THRESHOLD, less);
            for i in first + THRESHOLD..last {
                unguarded_linear_insert(v, i, less);
            }
        } else {
            insertion_sort(v, first, last, less);
        }
    }

    fn insertion_sort<T: Copy>(
        v: &mut [T],
        first: usize,
        last: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) {
        if first == last {
            return;
        }
        for i in first + 1..last {
            if less(&v[i], &v[first]) {
                let val = v[i];
                v.copy_within(first..i, first + 1);
                v[first] = val;
            } else {
                unguarded_linear_insert(v, i, less);
            }
        }
    }

    fn unguarded_linear_insert<T: Copy>(
        v: &mut [T],
        mut last: usize,
        less: &impl Fn(&T, &T) -> bool,
    ) {
        let val = v[last];
        let mut next = last - 1;
        while less(&val, &v[next]) {
            v[last] = v[next];
            last = next;
            next -= 1;
        }
        v[last] = val;
    }

    /// `std::__partial_sort(first, last, last)`: make_heap then sort_heap.
    fn heap_sort<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) {
        let len = last - first;
        if len >= 2 {
            let mut parent = (len - 2) / 2;
            loop {
                let value = v[first + parent];
                adjust_heap(v, first, parent, len, value, less);
                if parent == 0 {
                    break;
                }
                parent -= 1;
            }
        }
        let mut end = last;
        while end - first > 1 {
            end -= 1;
            let value = v[end];
            v[end] = v[first];
            adjust_heap(v, first, 0, end - first, value, less);
        }
    }

    fn adjust_heap<T: Copy>(
        v: &mut [T],
        first: usize,
        mut hole: usize,
        len: usize,
        value: T,
        less: &impl Fn(&T, &T) -> bool,
    ) {
        let top = hole;
        let mut second = hole;
        while second < (len - 1) / 2 {
            second = 2 * (second + 1);
            if less(&v[first + second], &v[first + second - 1]) {
                second -= 1;
            }
            v[first + hole] = v[first + second];
            hole = second;
        }
        if len % 2 == 0 && second == (len - 2) / 2 {
            second = 2 * (second + 1);
            v[first + hole] = v[first + second - 1];
            hole = second - 1;
        }
        // __push_heap
        let mut parent = hole.wrapping_sub(1) / 2;
        while hole > top && less(&v[first + parent], &value) {
            v[first + hole] = v[first + parent];
            hole = parent;
            parent = hole.wrapping_sub(1) / 2;
        }
        v[first + hole] = value;
    }

    #[cfg(test)]
    pub(super) fn heap_sort_all<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
        let n = v.len();
        heap_sort(v, 0, n, less);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_by_hand() {
        // 10×10 and 10×10 shifted by 5: inter 50, union 150.
        let a = [0.0, 0.0, 10.0, 10.0];
        let b = [5.0, 0.0, 15.0, 10.0];
        assert_eq!(box_iou(&a, &b), 50.0 / 150.0);
        assert!(box_iou(&[3.0, 3.0, 3.0, 3.0], &[3.0, 3.0, 3.0, 3.0]).is_nan());
    }

    #[test]
    fn suppresses_above_the_threshold_only() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 0.0, 11.0, 10.0],  // IoU with 0: 90 / 110 = 0.818
            [5.0, 0.0, 15.0, 10.0],  // IoU with 0: 1/3, with 1: 60/140
            [20.0, 0.0, 30.0, 10.0], // disjoint
        ];
        let scores = [0.9, 0.95, 0.5, 0.1];
        // 1 first (best), suppresses 0 (0.818 > 0.7); 2 vs 1 = 0.43 kept; 3 kept.
        assert_eq!(nms(&boxes, &scores, 0.7), vec![1, 2, 3]);
        // Threshold exactly at an IoU: strict ">" keeps the box.
        let half = [[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0]]; // IoU 0.5
        assert_eq!(nms(&half, &[1.0, 0.5], 0.5), vec![0, 1]);
        assert_eq!(nms(&half, &[1.0, 0.5], 0.49), vec![0]);
        // Two empty boxes at one spot: NaN IoU suppresses nothing.
        let empty = [[0.0; 4], [0.0; 4]];
        assert_eq!(nms(&empty, &[0.5, 0.5], 0.7), vec![0, 1]);
    }

    #[test]
    fn ties_of_up_to_16_keep_index_order() {
        // Identical boxes with equal scores: the first index wins, like torch.
        let boxes = [[0.0, 0.0, 4.0, 4.0]; 3];
        assert_eq!(nms(&boxes, &[0.5, 0.5, 0.5], 0.7), vec![0]);
        let scores = [1.0, 0.0, 1.0, 0.0, 1.0];
        assert_eq!(sort_desc(&scores), vec![0, 2, 4, 1, 3]);
    }

    /// Permutations printed by this C++ (g++ 12, libstdc++), the same algorithm
    /// PyTorch's CPU `sort` runs:
    /// `std::vector<std::pair<float,long>> v; ... std::sort(v.begin(), v.end(),
    /// [](auto a, auto b){ return a.first > b.first; });`
    #[test]
    fn ties_beyond_16_follow_libstdcxx_sort() {
        // 0/1 scores as the small-region re-NMS gives them: i % 3 == 0 → 1.
        let scores: Vec<f32> = (0..20).map(|i| f32::from(u8::from(i % 3 == 0))).collect();
        assert_eq!(
            sort_desc(&scores),
            LIBSTDCXX_20_MOD3
                .iter()
                .map(|&i| i as usize)
                .collect::<Vec<_>>()
        );
        let scores: Vec<f32> = (0..40).map(|i| ((i * 7) % 5) as f32).collect();
        assert_eq!(
            sort_desc(&scores),
            LIBSTDCXX_40_MOD5
                .iter()
                .map(|&i| i as usize)
                .collect::<Vec<_>>()
        );
    }

    const LIBSTDCXX_20_MOD3: [u8; 20] = [
        18, 3, 6, 15, 9, 0, 12, 10, 19, 17, 16, 14, 13, 11, 8, 7, 5, 4, 2, 1,
    ];
    const LIBSTDCXX_40_MOD5: [u8; 40] = [
        17, 2, 37, 22, 7, 32, 27, 12, 9, 24, 14, 29, 19, 34, 4, 39, 21, 1, 26, 31, 36, 16, 11, 6,
        18, 23, 38, 13, 28, 3, 8, 33, 0, 20, 5, 35, 10, 30, 15, 25,
    ];

    /// libstdc++'s heap sort (the introsort depth fallback), as
    /// `std::partial_sort(v.begin(), v.end(), v.end(), greater-by-value)` printed it.
    #[test]
    fn heap_fallback_follows_libstdcxx() {
        let values = [0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1];
        let mut v: Vec<(f32, usize)> = values.iter().map(|&x| x as f32).zip(0..).collect();
        libstdcxx::heap_sort_all(&mut v, &|a: &(f32, usize), b: &(f32, usize)| a.0 > b.0);
        let order: Vec<usize> = v.iter().map(|p| p.1).collect();
        assert_eq!(
            order,
            vec![18, 3, 19, 13, 12, 5, 8, 11, 6, 14, 16, 17, 15, 7, 9, 1, 4, 10, 0, 2]
        );
    }

    #[test]
    fn sorted_descending_with_nan_first() {
        let s = [0.5, f32::NAN, 0.9, 0.1];
        assert_eq!(sort_desc(&s), vec![1, 2, 0, 3]);
        let many: Vec<f32> = (0..100).map(|i| ((i * 37) % 101) as f32).collect();
        let order = sort_desc(&many);
        assert!(order.windows(2).all(|w| many[w[0]] >= many[w[1]]));
    }

    #[test]
    fn over_1000_boxes_the_vanilla_path_gives_the_same_kept_set() {
        let boxes: Vec<[f32; 4]> = (0..1200)
            .map(|i| {
                let x = (i % 40) as f32 * 3.0;
                let y = (i / 40) as f32 * 3.0;
                [x, y, x + 5.0, y + 5.0]
            })
            .collect();
        let scores: Vec<f32> = (0..1200)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let a = batched_nms(&boxes, &scores, 0.3);
        let mut b = nms(&boxes, &scores, 0.3);
        let mut a_sorted = a.clone();
        a_sorted.sort_unstable();
        b.sort_unstable();
        assert_eq!(a_sorted, b);
        assert!(a.windows(2).all(|w| scores[w[0]] >= scores[w[1]]));
    }
}
