//! NumPy export via `ndarray-npy`. Layout under the output folder:
//!
//! * `masks/<stem>_<id>.npy` — `bool`, shape `(H, W)`, one per instance;
//! * `instances/<stem>.npy` — `uint16`, shape `(H, W)`, 0 = background, `k` = k-th
//!   instance of the image (as the PNG instance map);
//! * `<stem>.npz` — `masks` `bool (N, H, W)`, `class_ids` `int64 (N,)` (category ids),
//!   `instance_ids` `int64 (N,)`.

use crate::maps::instance_map;
use crate::model::{stem, AnnotationSet};
use crate::png_export::mkdir;
use crate::write::{write_npy, write_with};
use crate::FormatError;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::NpzWriter;
use std::path::Path;

pub fn export_numpy(
    set: &AnnotationSet,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), FormatError> {
    set.validate(out)?;
    mkdir(&out.join("masks"))?;
    mkdir(&out.join("instances"))?;
    let groups = set.by_image();
    let total = groups.len();
    for (done, (img, insts)) in groups.into_iter().enumerate() {
        let s = stem(&img.file_name);
        let (h, w) = (img.height as usize, img.width as usize);
        let mut stack = Array3::<bool>::from_elem((insts.len(), h, w), false);
        for (k, inst) in insts.iter().enumerate() {
            let m = inst.mask.decode();
            let arr =
                Array2::from_shape_vec((h, w), m.as_slice().iter().map(|&v| v != 0).collect())
                    .map_err(|e| FormatError::write(out, e))?;
            stack.index_axis_mut(ndarray::Axis(0), k).assign(&arr);
            let path = out.join("masks").join(format!("{s}_{}.npy", inst.id));
            write_npy(&path, &arr)?;
        }
        let map = Array2::from_shape_vec((h, w), instance_map(img, &insts))
            .map_err(|e| FormatError::write(out, e))?;
        let path = out.join("instances").join(format!("{s}.npy"));
        write_npy(&path, &map)?;
        let path = out.join(format!("{s}.npz"));
        // A zip needs to seek: build it in memory (it is compressed), then write it.
        let mut npz = NpzWriter::new_compressed(std::io::Cursor::new(Vec::new()));
        let class_ids: Array1<i64> = insts.iter().map(|i| i.category_id as i64).collect();
        let ids: Array1<i64> = insts.iter().map(|i| i.id as i64).collect();
        npz.add_array("masks", &stack)
            .map_err(|e| FormatError::write(&path, e))?;
        npz.add_array("class_ids", &class_ids)
            .map_err(|e| FormatError::write(&path, e))?;
        npz.add_array("instance_ids", &ids)
            .map_err(|e| FormatError::write(&path, e))?;
        let bytes = npz
            .finish()
            .map_err(|e| FormatError::write(&path, e))?
            .into_inner();
        write_with(&path, |w| w.write_all(&bytes))?;
        progress(done + 1, total);
    }
    Ok(())
}
