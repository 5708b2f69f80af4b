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
/// numbered 1.. in raster order of their first pixel) and each label's pixel count.
///
/// Hand-written flood fill: `imageproc::region_labelling::connected_components`
/// (0.27) panics on some one-pixel-wide images, and masks come from users.
pub(crate) fn label_components(mask: &Mask) -> (Vec<u32>, Vec<u64>) {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let data = mask.as_slice();
    let mut labels = vec![0u32; data.len()];
    let mut sizes = vec![0u64];
    let mut stack = Vec::new();
    for start in 0..data.len() {
        if data[start] == 0 || labels[start] != 0 {
            continue;
        }
        let label = sizes.len() as u32;
        let mut size = 0u64;
        labels[start] = label;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if data[j] != 0 && labels[j] == 0 {
                        labels[j] = label;
                        stack.push(j);
                    }
                }
            }
        }
        sizes.push(size);
    }
    sizes[0] = data.len() as u64 - sizes.iter().sum::<u64>();
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
