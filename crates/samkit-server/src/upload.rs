//! Budgets for uploaded annotation files, checked before any real work: a COCO
//! document's lists are counted and their elements type-checked by a streaming pass
//! that keeps nothing in memory, and a zip is unpacked into a private folder while the
//! unpacked bytes are counted (the sizes its headers declare are not trusted).

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Most images, annotations and categories one COCO upload may list.
pub const MAX_COCO_IMAGES: usize = 100_000;
pub const MAX_COCO_ANNOTATIONS: usize = 200_000;
pub const MAX_COCO_CATEGORIES: usize = 10_000;
/// Most files in a zip upload, and most bytes they may unpack to.
pub const MAX_ZIP_ENTRIES: usize = 50_000;
pub const MAX_UNPACKED_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Over a budget: the message names the budget and what to do.
    #[error("{0}")]
    TooBig(String),
    /// Not the expected shape.
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// How many elements the lists of a COCO upload hold.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CocoCounts {
    pub images: usize,
    pub annotations: usize,
    pub categories: usize,
}

struct List<'a> {
    key: &'static str,
    limit: usize,
    count: &'a mut usize,
    /// Set when the list is over its limit (to tell a budget error from a shape error).
    over: &'a Cell<bool>,
}

/// One list element: must be an object; its contents are skipped.
struct Element;

impl<'de> DeserializeSeed<'de> for Element {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Element {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for List<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "`{}` to be an array of objects", self.key)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            if *self.count == self.limit {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    self.over.set(true);
                    return Err(de::Error::custom(format!(
                        "more than {} entries in `{}`: split the file into smaller imports",
                        self.limit, self.key
                    )));
                }
                return Ok(());
            }
            match seq.next_element_seed(Element) {
                Ok(Some(())) => *self.count += 1,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(de::Error::custom(format!(
                        "`{}[{}]`: {e}",
                        self.key, *self.count
                    )))
                }
            }
        }
    }
}

struct Document<'a> {
    counts: &'a mut CocoCounts,
    over: &'a Cell<bool>,
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a COCO document (an object with `images`, `annotations`, `categories`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let (key, limit, count) = match key.as_str() {
                "images" => ("images", MAX_COCO_IMAGES, &mut self.counts.images),
                "annotations" => (
                    "annotations",
                    MAX_COCO_ANNOTATIONS,
                    &mut self.counts.annotations,
                ),
                "categories" => (
                    "categories",
                    MAX_COCO_CATEGORIES,
                    &mut self.counts.categories,
                ),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(List {
                key,
                limit,
                count,
                over: self.over,
            })?;
        }
        Ok(())
    }
}

/// Counts the lists of a COCO upload and checks that their elements are objects,
/// without building the document: memory stays constant whatever the upload holds.
pub fn check_coco(bytes: &[u8]) -> Result<CocoCounts, UploadError> {
    let mut counts = CocoCounts::default();
    let over = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = de
        .deserialize_map(Document {
            counts: &mut counts,
            over: &over,
        })
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(counts),
        Err(e) if over.get() => Err(UploadError::TooBig(format!(
            "the COCO file is over samkit's import budget: {e} (at most {MAX_COCO_IMAGES} \
             images, {MAX_COCO_ANNOTATIONS} annotations and {MAX_COCO_CATEGORIES} categories)"
        ))),
        Err(e) => Err(UploadError::Invalid(format!("not a COCO document: {e}"))),
    }
}

/// Unpacks the zip `bytes` into `dir` (a private temporary folder): at most
/// [`MAX_ZIP_ENTRIES`] files and [`MAX_UNPACKED_BYTES`] in all, counted while
/// unpacking. Paths leaving `dir` are refused; links and special files are written as
/// plain files (their bytes), never followed.
pub fn unzip(bytes: &[u8], dir: &Path) -> Result<(), UploadError> {
    let io = |what: String| move |source| UploadError::Io { what, source };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| UploadError::Invalid(format!("the upload is not a zip file: {e}")))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(UploadError::TooBig(format!(
            "the zip holds {} entries; at most {MAX_ZIP_ENTRIES} are accepted: split it",
            archive.len()
        )));
    }
    let mut left = MAX_UNPACKED_BYTES;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| UploadError::Invalid(format!("damaged zip entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let Some(rel) = entry.enclosed_name() else {
            return Err(UploadError::Invalid(format!(
                "zip entry {:?} points outside the archive's folder",
                entry.name()
            )));
        };
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p.display().to_string()))?;
        }
        let mut out = std::fs::File::create(&path).map_err(io(path.display().to_string()))?;
        // One byte more than is left tells "exactly the budget" from "over it".
        let mut limited = entry.take(left + 1);
        let n = std::io::copy(&mut limited, &mut out)
            .map_err(|e| UploadError::Invalid(format!("cannot unpack zip entry {i}: {e}")))?;
        if n > left {
            return Err(UploadError::TooBig(format!(
                "the zip unpacks to more than {} MiB; import the labels in smaller parts",
                MAX_UNPACKED_BYTES >> 20
            )));
        }
        left -= n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn coco_lists_are_counted_and_checked_without_building_them() {
        let doc = br#"{"info": {"x": [1, 2]}, "images": [{"id": 1}, {}],
            "annotations": [{"id": 1, "segmentation": {"counts": "abc"}}],
            "categories": []}"#;
        assert_eq!(
            check_coco(doc).unwrap(),
            CocoCounts {
                images: 2,
                annotations: 1,
                categories: 0
            }
        );
        let err = check_coco(br#"{"images": [{}, 1, 1]}"#).unwrap_err();
        assert!(matches!(err, UploadError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("`images[1]`"), "{err}");
        assert!(matches!(
            check_coco(b"[1, 2]"),
            Err(UploadError::Invalid(_))
        ));
        assert!(matches!(
            check_coco(br#"{"images": 5}"#),
            Err(UploadError::Invalid(_))
        ));
    }

    #[test]
    fn too_many_coco_entries_are_refused() {
        let mut doc = String::from(r#"{"categories": ["#);
        for i in 0..=MAX_COCO_CATEGORIES {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str("{}");
        }
        doc.push_str("]}");
        let err = check_coco(doc.as_bytes()).unwrap_err();
        assert!(matches!(err, UploadError::TooBig(_)), "{err}");
        assert!(err.to_string().contains("categories"), "{err}");
    }

    /// A zip of `entries`, each `(name, bytes, times)`: the bytes repeated `times`.
    fn zip_of(entries: &[(&str, &[u8], usize)]) -> Vec<u8> {
        let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        for (name, data, times) in entries {
            zw.start_file(*name, opts).unwrap();
            for _ in 0..*times {
                zw.write_all(data).unwrap();
            }
        }
        zw.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_unpacking_past_the_budget_is_refused_while_reading() {
        // 257 MiB of zeros deflate to a few hundred KiB.
        let mib = vec![0u8; 1 << 20];
        let bytes = zip_of(&[(
            "labels/a.txt",
            &mib,
            (MAX_UNPACKED_BYTES >> 20) as usize + 1,
        )]);
        assert!(bytes.len() < 2 << 20);
        let dir = tempfile::tempdir().unwrap();
        let err = unzip(&bytes, dir.path()).unwrap_err();
        assert!(matches!(err, UploadError::TooBig(_)), "{err}");
        let written = std::fs::metadata(dir.path().join("labels/a.txt"))
            .unwrap()
            .len();
        assert!(written <= MAX_UNPACKED_BYTES + 1);
    }

    #[test]
    fn zip_paths_leaving_the_folder_are_refused() {
        let bytes = zip_of(&[("../evil.txt", b"x", 1)]);
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("upload");
        std::fs::create_dir(&inner).unwrap();
        assert!(matches!(
            unzip(&bytes, &inner),
            Err(UploadError::Invalid(_))
        ));
        assert!(!dir.path().join("evil.txt").exists());
        let ok = zip_of(&[("labels/a.txt", b"0 0.1 0.1 0.2 0.2 0.3 0.1\n", 1)]);
        unzip(&ok, &inner).unwrap();
        assert!(inner.join("labels/a.txt").is_file());
    }
}
