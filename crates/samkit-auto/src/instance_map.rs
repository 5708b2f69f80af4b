//! One image's masks as a single instance map (`samkit auto --format png`): pixel value
//! `k` = the k-th record (1-based, SAM's record order), 0 = background. Where masks
//! overlap they are painted as the overlay draws them ([`paint_order`]): the largest
//! first, so smaller masks stay visible on top of the larger ones they lie in; masks of
//! equal area keep record order (the later one is painted over the earlier).

use samkit_mask::CocoRle;

use crate::{AutoError, Result};

/// The most masks an instance map holds (its pixels are 16-bit).
pub const MAX_INSTANCES: usize = u16::MAX as usize;

/// The order masks are painted in, shared by the overlay and the instance map: indices
/// by decreasing area, ties in their given order (a stable sort).
pub fn paint_order(masks: &[&CocoRle]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..masks.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(masks[k].area()));
    order
}

/// The row-major `width × height` instance map of `masks` (value `k + 1` for
/// `masks[k]`), painted in [`paint_order`]; masks of another size are errors, and so are
/// more than [`MAX_INSTANCES`] masks.
pub fn instance_map(masks: &[&CocoRle], width: u32, height: u32) -> Result<Vec<u16>> {
    if masks.len() > MAX_INSTANCES {
        return Err(AutoError::InstanceMap(format!(
            "{} masks do not fit a 16-bit instance map (at most {MAX_INSTANCES})",
            masks.len()
        )));
    }
    let (w, h) = (width as usize, height as usize);
    let mut map = vec![0u16; w * h];
    for k in paint_order(masks) {
        let rle = masks[k];
        if (rle.width(), rle.height()) != (width, height) {
            return Err(AutoError::InstanceMap(format!(
                "mask {} is {}x{}, the image {width}x{height}",
                k + 1,
                rle.width(),
                rle.height()
            )));
        }
        let value = (k + 1) as u16;
        // Column-major runs: position p is (x, y) = (p / h, p % h).
        let mut pos = 0usize;
        for (i, &run) in rle.counts().iter().enumerate() {
            let run = run as usize;
            if i % 2 == 1 {
                for p in pos..pos + run {
                    map[(p % h) * w + p / h] = value;
                }
            }
            pos += run;
        }
    }
    Ok(map)
}

/// The inverse as far as it goes: for each value `1..=count`, the pixels that show it
/// (a mask's part hidden under a smaller one is not in the map). One pass over the map;
/// values above `count` are ignored.
pub fn masks_from_instance_map(
    map: &[u16],
    width: u32,
    height: u32,
    count: usize,
) -> Result<Vec<CocoRle>> {
    let (w, h) = (width as usize, height as usize);
    if map.len() != w * h {
        return Err(AutoError::InstanceMap(format!(
            "an instance map of {} pixels is not {width}x{height}",
            map.len()
        )));
    }
    // Per value: its column-major runs so far (background first) and how many
    // positions they cover.
    let mut runs: Vec<(Vec<u32>, usize)> = vec![(Vec::new(), 0); count];
    for x in 0..w {
        for y in 0..h {
            let v = map[y * w + x] as usize;
            if v == 0 || v > count {
                continue;
            }
            let p = x * h + y;
            let (counts, covered) = &mut runs[v - 1];
            let in_run = counts.len() % 2 == 0 && !counts.is_empty() && *covered == p;
            if in_run {
                *counts.last_mut().unwrap_or(&mut 0) += 1;
            } else {
                counts.push((p - *covered) as u32);
                counts.push(1);
            }
            *covered = p + 1;
        }
    }
    runs.into_iter()
        .map(|(mut counts, covered)| {
            // No trailing empty run, as pycocotools' encode.
            if covered < w * h || counts.is_empty() {
                counts.push((w * h - covered) as u32);
            }
            Ok(CocoRle::from_counts(height, width, counts)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_mask::Mask;

    fn rle(w: u32, h: u32, f: impl Fn(u32, u32) -> bool) -> CocoRle {
        CocoRle::encode(&Mask::from_fn(w, h, f).unwrap())
    }

    #[test]
    fn larger_masks_are_painted_first_by_hand() {
        // 4 × 3. Record 1: a 2-pixel mask inside record 2 (the whole left half, 6 px);
        // record 3: the right column (3 px), overlapping nothing; record 4: one pixel,
        // the same area as nothing else, inside record 3.
        let small = rle(4, 3, |x, y| x == 0 && y < 2);
        let half = rle(4, 3, |x, _| x < 2);
        let column = rle(4, 3, |x, _| x == 3);
        let dot = rle(4, 3, |x, y| x == 3 && y == 2);
        let map = instance_map(&[&small, &half, &column, &dot], 4, 3).unwrap();
        #[rustfmt::skip]
        assert_eq!(map, [
            1, 2, 0, 3,
            1, 2, 0, 3,
            2, 2, 0, 4,
        ]);
        // Record order alone would have let the half cover the small mask.
        assert_eq!(paint_order(&[&small, &half, &column, &dot]), [1, 2, 0, 3]);
        // Equal areas: the later record is painted over the earlier one.
        let a = rle(2, 1, |x, _| x == 0);
        let b = rle(2, 1, |x, _| x == 0);
        assert_eq!(instance_map(&[&a, &b], 2, 1).unwrap(), [2, 0]);
        // And back: the visible part of each.
        let back = masks_from_instance_map(&map, 4, 3, 4).unwrap();
        assert_eq!(back[0], small);
        assert_eq!(
            back[1].decode(),
            Mask::from_fn(4, 3, |x, y| x < 2 && !(x == 0 && y < 2)).unwrap()
        );
        assert_eq!(
            back[2].decode(),
            Mask::from_fn(4, 3, |x, y| x == 3 && y < 2).unwrap()
        );
        assert_eq!(back[3], dot);
    }

    #[test]
    fn sizes_and_counts_are_checked() {
        let a = rle(2, 2, |_, _| true);
        assert!(instance_map(&[&a], 3, 2).is_err());
        let empty = rle(1, 1, |_, _| false);
        let many = vec![&empty; MAX_INSTANCES + 1];
        let e = instance_map(&many, 1, 1).unwrap_err().to_string();
        assert!(e.contains("65535"), "{e}");
        assert_eq!(instance_map(&many[..MAX_INSTANCES], 1, 1).unwrap(), [0]);
        assert!(masks_from_instance_map(&[0; 3], 2, 2, 1).is_err());
        // No mask at all, and a value past the count, give empty masks.
        let none = masks_from_instance_map(&[0, 9], 2, 1, 1).unwrap();
        assert_eq!(none[0].area(), 0);
    }
}
