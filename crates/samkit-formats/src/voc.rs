//! Pascal VOC segmentation export. Layout under the output folder:
//!
//! * `SegmentationClass/<stem>.png` — indexed PNG, value `i + 1` = i-th category,
//!   0 = background, VOC colormap;
//! * `SegmentationObject/<stem>.png` — indexed PNG, value `k` = k-th instance of the
//!   image, VOC colormap;
//! * `class_names.txt` (`background` first), `labelmap.txt` (`name:r,g,b::`), and
//!   `ImageSets/Segmentation/default.txt` listing the stems.
//!
//! Choice: the 5-pixel 255 "void" boundary band of the original VOC ground truth is
//! *not* drawn: samkit masks are exact, and a band would hide pixels from every
//! consumer. Value 255 is never written (so at most 254 categories / instances per image).

use crate::maps::{instance_map, semantic_map};
use crate::model::{stem, AnnotationSet};
use crate::palette::{voc_colormap, write_indexed_png};
use crate::png_export::mkdir;
use crate::write::write_text;
use crate::FormatError;
use std::path::Path;

pub fn export_voc(
    set: &AnnotationSet,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), FormatError> {
    set.validate(out)?;
    if set.categories.len() > 254 {
        return Err(FormatError::write(
            out,
            "VOC palette PNGs hold at most 254 categories",
        ));
    }
    let cls = out.join("SegmentationClass");
    let obj = out.join("SegmentationObject");
    let sets = out.join("ImageSets").join("Segmentation");
    for d in [&cls, &obj, &sets] {
        mkdir(d)?;
    }
    let pal = voc_colormap();
    let groups = set.by_image();
    let total = groups.len();
    let mut stems = String::new();
    for (done, (img, insts)) in groups.into_iter().enumerate() {
        let s = stem(&img.file_name);
        if insts.len() > 254 {
            return Err(FormatError::write(
                obj.join(format!("{s}.png")),
                "more than 254 instances in one image",
            ));
        }
        let sem = semantic_map(set, img, &insts);
        write_indexed_png(
            &cls.join(format!("{s}.png")),
            img.width,
            img.height,
            &sem,
            &pal,
        )?;
        let ins: Vec<u8> = instance_map(img, &insts).iter().map(|&v| v as u8).collect();
        write_indexed_png(
            &obj.join(format!("{s}.png")),
            img.width,
            img.height,
            &ins,
            &pal,
        )?;
        stems.push_str(&s);
        stems.push('\n');
        progress(done + 1, total);
    }
    let mut names = String::from("background\n");
    let mut labelmap = String::from("# label:color_rgb:parts:actions\nbackground:0,0,0::\n");
    for (i, c) in set.categories.iter().enumerate() {
        let [r, g, b] = pal[i + 1];
        names.push_str(&format!("{}\n", c.name));
        labelmap.push_str(&format!("{}:{r},{g},{b}::\n", c.name));
    }
    write_text(&out.join("class_names.txt"), &names)?;
    write_text(&out.join("labelmap.txt"), &labelmap)?;
    write_text(&sets.join("default.txt"), &stems)
}
