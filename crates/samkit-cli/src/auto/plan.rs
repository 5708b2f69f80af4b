//! `samkit auto`'s job plan: which images the inputs name and where each one's output
//! goes, decided (and checked for clashes) before any model is loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Image file extensions `auto` picks up in folders (the formats the engine decodes;
/// DICOM and NIfTI files too, see [`is_image`]).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"];

/// One image to do: where it is and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub image: PathBuf,
    /// The output file (for `--format png`, the instance map; its table is beside it).
    pub output: PathBuf,
    /// The image's path relative to its input folder (its COCO `file_name`).
    pub name: String,
}

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        || samkit_engine::is_volume_file(path)
}

/// Image files under `dir`, recursively, sorted; hidden entries and symlinked folders
/// (which could loop) are skipped.
fn images_under(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read folder {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = e.path();
        let kind = e.file_type()?;
        if kind.is_dir() {
            images_under(&path, found)?;
        } else if is_image(&path) && (kind.is_file() || path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

/// The jobs of the inputs, outputs ending in `.{ext}`: a file goes to OUT/<stem>.ext (or
/// OUT itself, for one image and an OUT ending in .ext); a folder's images to
/// OUT/<path in the folder>.ext. Two images that would share an output, an output that
/// is an input image, and image outputs (`ext` an image extension) inside an input
/// folder, where the next run would take them for images, are errors before any work.
pub fn plan(inputs: &[PathBuf], out: &Path, ext: &str) -> anyhow::Result<Vec<Job>> {
    let single_file = inputs.len() == 1 && inputs[0].is_file();
    let file_name = |p: &Path| {
        p.file_name()
            .unwrap_or(p.as_os_str())
            .to_string_lossy()
            .into_owned()
    };
    let mut jobs = Vec::new();
    if single_file && out.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
        jobs.push(Job {
            image: inputs[0].clone(),
            output: out.to_path_buf(),
            name: file_name(&inputs[0]),
        });
    } else {
        for input in inputs {
            let meta = std::fs::metadata(input)
                .with_context(|| format!("cannot read input {}", input.display()))?;
            if meta.is_dir() {
                if IMAGE_EXTENSIONS.contains(&ext) {
                    let (dir, o) = (std::path::absolute(input)?, std::path::absolute(out)?);
                    anyhow::ensure!(
                        !o.starts_with(&dir),
                        "--out {} is inside the input folder {}: the next run would read the \
                         {ext} outputs as images; write them elsewhere",
                        out.display(),
                        input.display()
                    );
                }
                let mut found = Vec::new();
                images_under(input, &mut found)?;
                for image in found {
                    let rel = image.strip_prefix(input).unwrap_or(&image);
                    jobs.push(Job {
                        output: out.join(rel).with_extension(ext),
                        name: rel.to_string_lossy().into_owned(),
                        image,
                    });
                }
            } else {
                let stem = input.file_stem().unwrap_or(input.as_os_str());
                jobs.push(Job {
                    output: out.join(stem).with_extension(ext),
                    name: file_name(input),
                    image: input.clone(),
                });
            }
        }
    }
    let mut seen: HashMap<&Path, &Path> = HashMap::new();
    for job in &jobs {
        anyhow::ensure!(
            std::path::absolute(&job.output)? != std::path::absolute(&job.image)?,
            "the output of {} would replace the image itself: choose another --out",
            job.image.display()
        );
        if let Some(other) = seen.insert(&job.output, &job.image) {
            anyhow::bail!(
                "{} and {} would both be written to {}: rename one or run them with different --out",
                other.display(),
                job.image.display(),
                job.output.display()
            );
        }
    }
    Ok(jobs)
}

/// Where `--format coco` keeps each image's records between runs: `OUT.parts/`.
pub fn parts_dir(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".parts");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn folders_keep_their_layout_and_one_image_may_name_its_file() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        touch(&root.join("b.png"));
        touch(&root.join("sub/a.JPG"));
        touch(&root.join("notes.txt"));
        touch(&root.join(".hidden/c.png"));
        let out = d.path().join("out");
        let jobs = plan(std::slice::from_ref(&root), &out, "json").unwrap();
        assert_eq!(
            jobs,
            vec![
                Job {
                    image: root.join("b.png"),
                    output: out.join("b.json"),
                    name: "b.png".into(),
                },
                Job {
                    image: root.join("sub/a.JPG"),
                    output: out.join("sub/a.json"),
                    name: "sub/a.JPG".into(),
                },
            ]
        );
        let one = plan(&[root.join("b.png")], &d.path().join("x.json"), "json").unwrap();
        assert_eq!(one[0].output, d.path().join("x.json"));
        let one = plan(&[root.join("b.png")], &out, "json").unwrap();
        assert_eq!(one[0].output, out.join("b.json"));
        // Each format's extension, the single-file rule included.
        let one = plan(&[root.join("b.png")], &d.path().join("x.npz"), "npz").unwrap();
        assert_eq!(one[0].output, d.path().join("x.npz"));
        let jobs = plan(std::slice::from_ref(&root), &out, "png").unwrap();
        assert_eq!(jobs[1].output, out.join("sub/a.png"));
    }

    #[test]
    fn two_images_for_one_output_are_refused_before_any_work() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("a.png"));
        touch(&d.path().join("a.jpg"));
        let err = plan(&[d.path().to_path_buf()], &d.path().join("out"), "json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("would both be written"), "{err}");
    }

    #[test]
    fn image_outputs_never_replace_or_join_the_inputs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        touch(&root.join("a.png"));
        // Instance maps written into the input folder would overwrite a.png, and a
        // folder below it would be read as images next time.
        for out in [root.clone(), root.join("maps")] {
            let err = plan(std::slice::from_ref(&root), &out, "png")
                .unwrap_err()
                .to_string();
            assert!(err.contains("inside the input folder"), "{err}");
        }
        // JSON beside the images is fine.
        assert!(plan(std::slice::from_ref(&root), &root, "json").is_ok());
        let err = plan(&[root.join("a.png")], &root.join("a.png"), "png")
            .unwrap_err()
            .to_string();
        assert!(err.contains("replace the image itself"), "{err}");
        let err = plan(&[root.join("a.png")], &root, "png")
            .unwrap_err()
            .to_string();
        assert!(err.contains("replace the image itself"), "{err}");
    }
}
