//! Per-image label maps shared by the PNG, NumPy and VOC exporters. Instances are
//! painted in set order, so where masks overlap the later instance wins.

use crate::model::{AnnotationSet, ImageInfo, Instance};

/// Instance map: 0 = background, `k` = the k-th instance of the image (1-based).
pub(crate) fn instance_map(img: &ImageInfo, insts: &[&Instance]) -> Vec<u16> {
    let mut map = vec![0u16; img.width as usize * img.height as usize];
    for (k, inst) in insts.iter().enumerate() {
        let value = u16::try_from(k + 1).unwrap_or(u16::MAX);
        paint(&mut map, inst, value);
    }
    map
}

/// Semantic map: 0 = background, `i + 1` for the i-th category of the set.
pub(crate) fn semantic_map(set: &AnnotationSet, img: &ImageInfo, insts: &[&Instance]) -> Vec<u8> {
    let mut map = vec![0u8; img.width as usize * img.height as usize];
    for inst in insts {
        if let Some(i) = set.category_index(inst.category_id) {
            paint(&mut map, inst, u8::try_from(i + 1).unwrap_or(u8::MAX));
        }
    }
    map
}

/// Writes `value` into the row-major `map` wherever the instance's RLE is foreground,
/// walking the column-major runs directly (no decoded mask needed).
fn paint<T: Copy>(map: &mut [T], inst: &Instance, value: T) {
    let h = inst.mask.height() as usize;
    let w = inst.mask.width() as usize;
    if map.len() != h * w || h == 0 {
        return;
    }
    let mut pos = 0usize;
    for (i, &run) in inst.mask.counts().iter().enumerate() {
        let run = run as usize;
        if i % 2 == 1 {
            for p in pos..pos + run {
                let (x, y) = (p / h, p % h);
                map[y * w + x] = value;
            }
        }
        pos += run;
    }
}
