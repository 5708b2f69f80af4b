//! SAM's `remove_small_regions` (segment-anything `utils/amg.py`).

use crate::Mask;

/// What [`remove_small_regions`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionMode {
    /// Fill background components smaller than the area threshold.
    Holes,
    /// Drop foreground components smaller than the area threshold.
    Islands,
}

/// segment-anything `remove_small_regions(mask, area_thresh, mode)`.
///
/// Components are 8-connected, as `cv2.connectedComponentsWithStats(connectivity=8)`;
/// a component is small when its area is `< area_thresh`. In `Holes` mode the
/// components are those of the *inverted* mask, so — exactly like SAM — a background
/// region touching the image border is filled too when it is small. In `Islands` mode,
/// if every island is small, the largest one is kept. Returns the new mask and
/// whether anything changed (SAM's `modified` flag).
pub fn remove_small_regions(mask: &Mask, area_thresh: u64, mode: RegionMode) -> (Mask, bool) {
    let working = match mode {
        RegionMode::Holes => mask.inverted(),
        RegionMode::Islands => mask.clone(),
    };
    let (labels, sizes) = label_components(&working);
    // small[l]: label l is a component (l > 0) with area below the threshold.
    let small: Vec<bool> = sizes
        .iter()
        .enumerate()
        .map(|(l, &s)| l > 0 && s < area_thresh)
        .collect();
    if !small.iter().any(|&s| s) {
        return (mask.clone(), false);
    }
    let mut in_result = vec![false; sizes.len()];
    match mode {
        // SAM: result = isin(regions, [0] + small_regions)
        RegionMode::Holes => {
            for (l, r) in in_result.iter_mut().enumerate() {
                *r = l == 0 || small[l];
            }
        }
        // SAM: result = isin(regions, labels not in [0] + small), else the largest.
        RegionMode::Islands => {
            for (l, r) in in_result.iter_mut().enumerate() {
                *r = l > 0 && !small[l];
            }
            if !in_result.iter().any(|&r| r) {
                let largest = (1..sizes.len()).max_by_key(|&l| (sizes[l], std::cmp::Reverse(l)));
                if let Some(l) = largest {
                    in_result[l] = true;
                }
            }
        }
    }
    let data = labels
        .iter()
        .map(|&l| u8::from(in_result[l as usize]))
        .collect();
    (
        Mask::from_raw_unchecked(mask.width(), mask.height(), data),
        true,
    )
}

/// 8-connected component labels of the foreground (0 = background, components
/// numbered 1.. in raster order of their first pixel) and each label's pixel count
/// (`sizes[0]` counts the background).
///
/// Hand-written two-pass union-find (4 bytes per pixel plus the provisional-label
/// forest): `imageproc::region_labelling::connected_components` (0.27) panics on
/// some one-pixel-wide images, and masks come from users.
pub(crate) fn label_components(mask: &Mask) -> (Vec<u32>, Vec<u64>) {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let data = mask.as_slice();
    let mut labels = vec![0u32; data.len()];
    let mut parent: Vec<u32> = vec![0];
    fn find(parent: &mut [u32], mut a: u32) -> u32 {
        while parent[a as usize] != a {
            let up = parent[parent[a as usize] as usize];
            parent[a as usize] = up;
            a = up;
        }
        a
    }
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if data[i] == 0 {
                continue;
            }
            // Already-visited neighbours: W, NW, N, NE.
            let mut nb = [0u32; 4];
            if x > 0 {
                nb[0] = labels[i - 1];
            }
            if y > 0 {
                let up = i - w;
                if x > 0 {
                    nb[1] = labels[up - 1];
                }
                nb[2] = labels[up];
                if x + 1 < w {
                    nb[3] = labels[up + 1];
                }
            }
            let mut root = 0u32;
            for &l in nb.iter().filter(|&&l| l != 0) {
                let r = find(&mut parent, l);
                if root == 0 {
                    root = r;
                } else if r != root {
                    let (lo, hi) = (root.min(r), root.max(r));
                    parent[hi as usize] = lo;
                    root = lo;
                }
            }
            if root == 0 {
                root = parent.len() as u32;
                parent.push(root);
            }
            labels[i] = root;
        }
    }
    let mut final_label = vec![0u32; parent.len()];
    let mut sizes = vec![0u64];
    for l in labels.iter_mut() {
        if *l == 0 {
            sizes[0] += 1;
            continue;
        }
        let r = find(&mut parent, *l) as usize;
        if final_label[r] == 0 {
            final_label[r] = sizes.len() as u32;
            sizes.push(0);
        }
        *l = final_label[r];
        sizes[*l as usize] += 1;
    }
    (labels, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rows: &[&str]) -> Mask {
        let h = rows.len() as u32;
        let w = rows[0].len() as u32;
        Mask::from_fn(w, h, |x, y| rows[y as usize].as_bytes()[x as usize] == b'#').unwrap()
    }

    /// Reference: plain flood fill.
    fn flood_labels(m: &Mask) -> Vec<u32> {
        let (w, h) = (m.width() as i64, m.height() as i64);
        let mut labels = vec![0u32; m.as_slice().len()];
        let mut next = 0;
        for start in 0..labels.len() {
            if m.as_slice()[start] == 0 || labels[start] != 0 {
                continue;
            }
            next += 1;
            labels[start] = next;
            let mut stack = vec![start];
            while let Some(i) = stack.pop() {
                let (x, y) = (i as i64 % w, i as i64 / w);
                for (dx, dy) in [
                    (-1, -1),
                    (0, -1),
                    (1, -1),
                    (-1, 0),
                    (1, 0),
                    (-1, 1),
                    (0, 1),
                    (1, 1),
                ] {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx >= 0 && ny >= 0 && nx < w && ny < h {
                        let j = (ny * w + nx) as usize;
                        if m.as_slice()[j] != 0 && labels[j] == 0 {
                            labels[j] = next;
                            stack.push(j);
                        }
                    }
                }
            }
        }
        labels
    }

    proptest::proptest! {
        #[test]
        fn union_find_matches_flood_fill(w in 1u32..30, h in 1u32..30, seed in proptest::prelude::any::<u64>()) {
            let mut s = seed;
            let m = Mask::from_fn(w, h, |_, _| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 61) < 3
            }).unwrap();
            let (labels, sizes) = label_components(&m);
            proptest::prop_assert_eq!(&labels, &flood_labels(&m));
            proptest::prop_assert_eq!(sizes.iter().sum::<u64>(), u64::from(w * h));
        }
    }

    #[test]
    fn fills_small_holes_only() {
        let m = parse(&[
            "########", "#.######", "########", "##...###", "##...###", "########",
        ]);
        let (out, changed) = remove_small_regions(&m, 2, RegionMode::Holes);
        assert!(changed);
        assert!(out.get(1, 1));
        assert!(!out.get(3, 3));
        let (_, changed) = remove_small_regions(&m, 1, RegionMode::Holes);
        assert!(!changed);
    }

    #[test]
    fn small_border_background_is_filled_like_sam() {
        // The background touching the border is a component of the inverted mask too.
        let m = parse(&["#...", "####", "####"]);
        let (out, changed) = remove_small_regions(&m, 4, RegionMode::Holes);
        assert!(changed);
        assert_eq!(out.area(), 12);
    }

    #[test]
    fn drops_small_islands_eight_connected() {
        // The two diagonal pixels are one 8-connected island of area 2.
        let m = parse(&["#.....", ".#....", "...###", "...###"]);
        let (out, _) = remove_small_regions(&m, 3, RegionMode::Islands);
        assert_eq!(out.area(), 6);
        let (out, _) = remove_small_regions(&m, 2, RegionMode::Islands);
        assert_eq!(out, m);
        // Every island small: the largest survives.
        let (out, changed) = remove_small_regions(&m, 100, RegionMode::Islands);
        assert!(changed);
        assert_eq!(out.area(), 6);
    }
}
