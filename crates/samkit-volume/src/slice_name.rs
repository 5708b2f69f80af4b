//! One slice of a volume file as an image of its own, by name: `ct.nii.gz#z=012`.
//!
//! A project lists each slice of a volume as an image (masks, review status and exports
//! per slice), named by the file and the slice number, zero-padded so that names sort in
//! slice order. The web app, the store and the exporters all read this one convention.

/// What separates the file's name from the slice number.
pub const SLICE_MARK: &str = "#z=";

/// The image name of slice `z` of a `depth`-slice volume file named `file`.
pub fn slice_image_name(file: &str, z: u32, depth: u32) -> String {
    let digits = depth.saturating_sub(1).max(1).to_string().len();
    format!("{file}{SLICE_MARK}{z:0digits$}")
}

/// The file and slice an image name stands for: `("ct.nii.gz", Some(12))` for
/// `ct.nii.gz#z=012`; a name without a slice number is a file of its own.
pub fn split_slice_name(name: &str) -> (&str, Option<u32>) {
    match name.rsplit_once(SLICE_MARK) {
        Some((file, z))
            if !file.is_empty() && !z.is_empty() && z.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match z.parse() {
                Ok(z) => (file, Some(z)),
                Err(_) => (name, None),
            }
        }
        _ => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_slice_order() {
        assert_eq!(slice_image_name("ct.nii.gz", 3, 120), "ct.nii.gz#z=003");
        assert_eq!(slice_image_name("a/b.dcm", 0, 2), "a/b.dcm#z=0");
        assert_eq!(slice_image_name("s.tif", 9, 10), "s.tif#z=9");
        assert_eq!(slice_image_name("s.tif", 10, 11), "s.tif#z=10");
        let mut names: Vec<String> = (0..120)
            .map(|z| slice_image_name("v.nii", z, 120))
            .collect();
        let in_order = names.clone();
        names.sort();
        assert_eq!(names, in_order);
        for z in [0, 7, 119] {
            let name = slice_image_name("dir/v.nii.gz", z, 120);
            assert_eq!(split_slice_name(&name), ("dir/v.nii.gz", Some(z)));
        }
    }

    #[test]
    fn other_names_are_files() {
        for name in [
            "photo.png",
            "a#z=.png",
            "a#z=3.png",
            "#z=3",
            "a#z=-1",
            "a#z=99999999999",
        ] {
            assert_eq!(split_slice_name(name), (name, None), "{name}");
        }
    }
}
