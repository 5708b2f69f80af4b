//! Export of a project through `samkit-formats` and import of COCO / YOLO annotations
//! into it. Shared by the HTTP API and `samkit export` / `samkit import`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use samkit_formats::coco::{to_coco_json, CocoExportOptions};
use samkit_formats::{
    nifti_export, numpy, png_export, voc, yolo, AnnotationSet, Category, CocoRle, ImageInfo,
    Instance, MaskFormat, PromptPoint, Prompts,
};
use samkit_mask::DEFAULT_TOLERANCE;
use samkit_store::{NewInstance, Store};
use serde::Serialize;
use serde_json::{json, Value};

/// Export formats of the API and CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Coco,
    CocoPolygons,
    Png,
    Npy,
    Yolo,
    Voc,
    /// NIfTI label volumes, one value per category.
    Nifti,
    /// NIfTI label volumes, one value per instance.
    NiftiInstances,
}

/// Names accepted by `?format=` / `--to`, in menu order.
pub const EXPORT_FORMATS: [&str; 8] = [
    "coco",
    "coco-polygons",
    "png",
    "npy",
    "yolo",
    "voc",
    "nifti",
    "nifti-instances",
];
pub const IMPORT_FORMATS: [&str; 2] = ["coco", "yolo"];

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "coco" | "json" => ExportFormat::Coco,
            "coco-polygons" | "coco-polygon" | "polygons" => ExportFormat::CocoPolygons,
            "png" => ExportFormat::Png,
            "npy" | "numpy" | "npz" => ExportFormat::Npy,
            "yolo" | "yolo-seg" => ExportFormat::Yolo,
            "voc" | "pascal-voc" => ExportFormat::Voc,
            "nifti" | "nii" => ExportFormat::Nifti,
            "nifti-instances" => ExportFormat::NiftiInstances,
            _ => {
                return Err(format!(
                    "unknown export format {s:?}; use one of {}",
                    EXPORT_FORMATS.join(", ")
                ))
            }
        })
    }
}

impl ExportFormat {
    /// Whether the export is a single JSON document (else a folder / zip).
    pub fn is_single_json(self) -> bool {
        matches!(self, ExportFormat::Coco | ExportFormat::CocoPolygons)
    }
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Coco => "coco",
            ExportFormat::CocoPolygons => "coco-polygons",
            ExportFormat::Png => "png",
            ExportFormat::Npy => "npy",
            ExportFormat::Yolo => "yolo",
            ExportFormat::Voc => "voc",
            ExportFormat::Nifti => "nifti",
            ExportFormat::NiftiInstances => "nifti-instances",
        }
    }
}

/// The status filter of approved work (the review workflow), beside the image statuses.
pub const APPROVED: &str = "approved";

/// Which images an export covers.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Only images with this status; `approved`: images whose work a reviewer approved.
    pub status: Option<String>,
    /// Include images deleted from disk (their annotations are kept).
    pub include_missing: bool,
}

impl ExportFilter {
    /// A filter on `status` (checked: a misspelt status would export nothing, silently).
    pub fn new(status: Option<&str>, include_missing: bool) -> Result<Self, ExportError> {
        if let Some(s) = status {
            if s != APPROVED && samkit_store::ImageStatus::parse(s).is_none() {
                let known: Vec<&str> = samkit_store::ImageStatus::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .chain([APPROVED])
                    .collect();
                return Err(ExportError::Invalid(format!(
                    "unknown status {s:?}; use {}",
                    known.join(", ")
                )));
            }
        }
        Ok(ExportFilter {
            status: status.map(str::to_string),
            include_missing,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] samkit_store::StoreError),
    #[error("{0}")]
    Format(#[from] samkit_formats::FormatError),
    #[error("{0}")]
    Invalid(String),
    #[error("the project folder {path} cannot be used: {source}")]
    Project {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the project {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExportError {
    let what = what.into();
    move |source| ExportError::Io { what, source }
}

fn parse_hex(c: &str) -> Option<[u8; 3]> {
    let c = c.strip_prefix('#')?;
    if c.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(c, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// Converts the API's stored prompts JSON into the formats' prompts (best effort).
fn to_prompts(v: &Value) -> Prompts {
    let points = v
        .get("points")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    let x = p.get("x")?.as_f64()? as f32;
                    let y = p.get("y")?.as_f64()? as f32;
                    let label = match p.get("label")? {
                        Value::String(s) if s == "negative" => 0,
                        Value::String(_) => 1,
                        n => n.as_i64()? as i32,
                    };
                    Some(PromptPoint { x, y, label })
                })
                .collect()
        })
        .unwrap_or_default();
    let bbox = v
        .get("box")
        .and_then(|b| serde_json::from_value::<[f32; 4]>(b.clone()).ok());
    Prompts { points, bbox }
}

/// The project's annotations as an [`AnnotationSet`] (ids as in the database).
pub async fn annotation_set(
    store: &Store,
    project_id: i64,
    filter: &ExportFilter,
) -> Result<AnnotationSet, ExportError> {
    let images = store.list_images(project_id).await?;
    let cats = store.list_categories(project_id).await?;
    let insts = store.project_instances(project_id).await?;
    let work = store
        .assignments(project_id, &samkit_store::AssignmentQuery::default())
        .await?;
    // The work exported for an image annotated under the review workflow: its first
    // approved assignment, else its first one (an overlap's other copies are there for
    // the agreement report, not the dataset).
    let mut chosen: std::collections::HashMap<i64, (bool, i64)> = Default::default();
    for a in &work {
        let approved = a.work_state() == samkit_store::WorkState::Approved;
        let e = chosen.entry(a.image_id).or_insert((approved, a.id));
        if approved && !e.0 {
            *e = (true, a.id);
        }
    }
    let mut set = AnnotationSet::default();
    for i in &images {
        let keep = match filter.status.as_deref() {
            None => true,
            Some(APPROVED) => chosen.get(&i.id).is_some_and(|c| c.0),
            Some(s) => s == i.status,
        };
        if !keep || (i.missing && !filter.include_missing) {
            continue;
        }
        set.images.push(ImageInfo {
            id: i.id as u64,
            file_name: i.path.clone(),
            width: i.width as u32,
            height: i.height as u32,
        });
    }
    for c in &cats {
        set.categories.push(Category {
            id: c.id as u64,
            name: c.name.clone(),
            color: parse_hex(&c.color),
            supercategory: None,
        });
    }
    let kept: std::collections::HashSet<u64> = set.images.iter().map(|i| i.id).collect();
    for inst in insts {
        if !kept.contains(&(inst.image_id as u64)) {
            continue;
        }
        let of_other_work = match (chosen.get(&inst.image_id), inst.assignment_id) {
            (Some((_, a)), Some(b)) => *a != b,
            _ => false,
        };
        if of_other_work {
            continue;
        }
        // `iscrowd` is COCO's own field; the other attributes go in `attributes`.
        let mut attributes = inst.attributes.0.as_object().cloned().unwrap_or_default();
        let iscrowd = attributes.remove("iscrowd") == Some(Value::Bool(true));
        let mask: CocoRle = serde_json::from_value(inst.rle.0.clone()).map_err(|e| {
            ExportError::Invalid(format!(
                "instance {} has a damaged mask in the database: {e}",
                inst.id
            ))
        })?;
        set.instances.push(Instance {
            id: inst.id as u64,
            image_id: inst.image_id as u64,
            category_id: inst.category_id as u64,
            mask,
            score: inst.score.map(|s| s as f32),
            prompts: to_prompts(&inst.prompts.0),
            iscrowd,
            attributes,
        });
    }
    Ok(set)
}

/// What [`export_project`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub format: &'static str,
    pub images: usize,
    pub instances: usize,
    /// The JSON file (COCO) or folder written.
    pub out: PathBuf,
    /// Things the reader should know (e.g. images without pixels for cut-outs).
    pub notes: Vec<String>,
    /// The dataset version exported: the project's last history entry at the time.
    pub history_id: i64,
}

/// `samkit export`: opens the project served from the folder `project` (its database
/// `db`, default `PROJECT/.samkit/project.db`), brings its image list up to date with
/// the folder, and writes the images `filter` keeps as `format` to `out`.
pub async fn export_project(
    project: &Path,
    db: Option<&str>,
    format: ExportFormat,
    filter: &ExportFilter,
    out: &Path,
) -> Result<ExportSummary, ExportError> {
    let root = std::fs::canonicalize(project).map_err(|source| ExportError::Project {
        path: project.to_path_buf(),
        source,
    })?;
    let opened = |message: String| ExportError::Open {
        path: root.clone(),
        message,
    };
    let (store, pid) = crate::open_project_store(&root, db)
        .await
        .map_err(|e| opened(e.to_string()))?;
    let result = async {
        crate::sync_folder(&store, pid, &root)
            .await
            .map_err(|e| opened(e.message))?;
        let history_id = store.last_history_id(pid).await?;
        let set = annotation_set(&store, pid, filter).await?;
        let (set_out, root_in) = (out.to_path_buf(), root.clone());
        let (set, notes) = tokio::task::spawn_blocking(move || {
            write_export(&set, format, &set_out, Some(&root_in)).map(|notes| (set, notes))
        })
        .await
        .map_err(|e| ExportError::Invalid(format!("the export crashed: {e}")))??;
        Ok(ExportSummary {
            format: format.name(),
            images: set.images.len(),
            instances: set.instances.len(),
            out: out.to_path_buf(),
            notes,
            history_id,
        })
    }
    .await;
    store.close().await;
    result
}

/// Writes `set` as `format`: a JSON file at `out` for COCO, else files under the folder
/// `out`. `images_dir` gives source pixels (PNG cut-outs). Returns notes to show.
pub fn write_export(
    set: &AnnotationSet,
    format: ExportFormat,
    out: &Path,
    images_dir: Option<&Path>,
) -> Result<Vec<String>, ExportError> {
    let mut progress = |_: usize, _: usize| {};
    match format {
        ExportFormat::Coco | ExportFormat::CocoPolygons => {
            let doc = coco_doc(set, format)?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io(dir.display().to_string()))?;
            }
            let bytes =
                serde_json::to_vec(&doc).map_err(|e| ExportError::Invalid(e.to_string()))?;
            samkit_outfile::write_bytes(out, &bytes).map_err(samkit_formats::FormatError::from)?;
            Ok(vec![])
        }
        ExportFormat::Png => Ok(png_export::export_png(set, out, images_dir, &mut progress)?),
        ExportFormat::Npy => {
            numpy::export_numpy(set, out, &mut progress)?;
            Ok(vec![])
        }
        ExportFormat::Yolo => {
            yolo::export_yolo(set, out, DEFAULT_TOLERANCE, &mut progress)?;
            Ok(vec![])
        }
        ExportFormat::Voc => {
            voc::export_voc(set, out, &mut progress)?;
            Ok(vec![])
        }
        ExportFormat::Nifti | ExportFormat::NiftiInstances => {
            let Some(dir) = images_dir else {
                return Err(ExportError::Invalid(
                    "a NIfTI export needs the project folder (the source volumes' headers)".into(),
                ));
            };
            let values = if format == ExportFormat::Nifti {
                nifti_export::LabelValues::Category
            } else {
                nifti_export::LabelValues::Instance
            };
            Ok(nifti_export::export_nifti(
                set,
                out,
                dir,
                values,
                &mut progress,
            )?)
        }
    }
}

/// The COCO document of `set`.
pub fn coco_doc(set: &AnnotationSet, format: ExportFormat) -> Result<Value, ExportError> {
    let opts = CocoExportOptions {
        mask_format: if format == ExportFormat::CocoPolygons {
            MaskFormat::Polygon
        } else {
            MaskFormat::Rle
        },
        tolerance: DEFAULT_TOLERANCE,
    };
    Ok(to_coco_json(
        set,
        &opts,
        Path::new("export.json"),
        &mut |_, _| {},
    )?)
}

/// Zips the files under `dir` (paths relative to it).
pub fn zip_dir(dir: &Path) -> Result<Vec<u8>, ExportError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .map_err(io(d.display().to_string()))?
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for f in files {
        let name = f
            .strip_prefix(dir)
            .unwrap_or(&f)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        zw.start_file(name, opts)
            .map_err(|e| ExportError::Invalid(format!("zip: {e}")))?;
        let bytes = std::fs::read(&f).map_err(io(f.display().to_string()))?;
        zw.write_all(&bytes).map_err(io("zip"))?;
    }
    let cur = zw
        .finish()
        .map_err(|e| ExportError::Invalid(format!("zip: {e}")))?;
    Ok(cur.into_inner())
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub images_matched: usize,
    pub instances_added: usize,
    pub categories_added: usize,
    pub skipped: Vec<ImportSkip>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportSkip {
    pub item: String,
    pub reason: String,
}

/// Reads COCO JSON bytes into a set (invalid items skipped and reported).
pub fn read_coco(bytes: &[u8]) -> Result<(AnnotationSet, Vec<ImportSkip>), ExportError> {
    let (set, skipped) =
        samkit_formats::coco::import_coco_slice(bytes, Path::new("upload.json"), true)?;
    Ok((set, skipped.into_iter().map(skip_of).collect()))
}

fn skip_of(e: samkit_formats::FormatError) -> ImportSkip {
    ImportSkip {
        item: "annotation".into(),
        reason: e.to_string(),
    }
}

/// Reads a YOLO-seg folder into a set; image sizes come from the project folder.
pub fn read_yolo(dir: &Path, root: &Path) -> Result<(AnnotationSet, Vec<ImportSkip>), ExportError> {
    let (set, skipped) = yolo::import_yolo(dir, root, true)?;
    Ok((set, skipped.into_iter().map(skip_of).collect()))
}

/// Where a YOLO upload's labels are in the unpacked folder: the folder holding
/// `labels/`, or one holding `.txt` files.
pub fn yolo_root(dir: &Path) -> PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("labels").is_dir() {
            return d;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut has_txt = false;
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") && e.file_name() != "classes.txt" {
                has_txt = true;
            }
        }
        if has_txt {
            return d;
        }
    }
    dir.to_path_buf()
}

/// Adds the instances of `set` to the project: images matched by relative path, else by
/// bare file name or stem when unique; categories by name (created when absent).
pub async fn import_set(
    store: &Store,
    project_id: i64,
    set: &AnnotationSet,
    mut skipped: Vec<ImportSkip>,
    author: &str,
) -> Result<ImportReport, ExportError> {
    let images = store.list_images(project_id).await?;
    let by_path: HashMap<&str, &samkit_store::Image> =
        images.iter().map(|i| (i.path.as_str(), i)).collect();
    let mut by_name: HashMap<String, Vec<&samkit_store::Image>> = HashMap::new();
    let mut by_stem: HashMap<String, Vec<&samkit_store::Image>> = HashMap::new();
    for i in &images {
        let p = Path::new(&i.path);
        if let Some(n) = p.file_name() {
            by_name
                .entry(n.to_string_lossy().into_owned())
                .or_default()
                .push(i);
        }
        if let Some(s) = p.file_stem() {
            by_stem
                .entry(s.to_string_lossy().into_owned())
                .or_default()
                .push(i);
        }
    }
    let mut report = ImportReport::default();
    let mut image_map = HashMap::new();
    for im in &set.images {
        let fname = im.file_name.replace('\\', "/");
        let p = Path::new(&fname);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = p
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let found = by_path
            .get(fname.as_str())
            .copied()
            .or_else(|| by_name.get(&name).filter(|v| v.len() == 1).map(|v| v[0]))
            .or_else(|| by_stem.get(&stem).filter(|v| v.len() == 1).map(|v| v[0]));
        match found {
            Some(img) => {
                image_map.insert(im.id, img);
                report.images_matched += 1;
            }
            None => skipped.push(ImportSkip {
                item: format!("image {:?}", im.file_name),
                reason: "no image of this project has that file name (or it is ambiguous)".into(),
            }),
        }
    }
    let mut cat_map = HashMap::new();
    for c in &set.categories {
        let (cat, created) = store.category_by_name(project_id, &c.name, author).await?;
        if created {
            report.categories_added += 1;
        }
        cat_map.insert(c.id, cat.id);
    }
    let mut news = Vec::new();
    for inst in &set.instances {
        let Some(img) = image_map.get(&inst.image_id) else {
            continue;
        };
        let Some(&cat) = cat_map.get(&inst.category_id) else {
            skipped.push(ImportSkip {
                item: format!("annotation {}", inst.id),
                reason: format!("unknown category {}", inst.category_id),
            });
            continue;
        };
        if (i64::from(inst.mask.height()), i64::from(inst.mask.width())) != (img.height, img.width)
        {
            skipped.push(ImportSkip {
                item: format!("annotation {}", inst.id),
                reason: format!(
                    "mask is {}×{} but {} is {}×{} (as displayed, EXIF orientation applied)",
                    inst.mask.width(),
                    inst.mask.height(),
                    img.path,
                    img.width,
                    img.height
                ),
            });
            continue;
        }
        if inst.mask.area() == 0 {
            skipped.push(ImportSkip {
                item: format!("annotation {}", inst.id),
                reason: "empty mask".into(),
            });
            continue;
        }
        let mut attributes = inst.attributes.clone();
        if inst.iscrowd {
            attributes.insert("iscrowd".into(), Value::Bool(true));
        }
        let attributes = match samkit_store::check_attributes(&Value::Object(attributes)) {
            Ok(a) => Value::Object(a),
            Err(e) => {
                skipped.push(ImportSkip {
                    item: format!("annotation {}", inst.id),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let prompts = json!({
            "points": inst.prompts.points.iter().map(|p| json!({"x": p.x, "y": p.y,
                "label": if p.label == 0 { "negative" } else { "positive" }})).collect::<Vec<_>>(),
            "box": inst.prompts.bbox,
        });
        news.push(NewInstance {
            image_id: img.id,
            category_id: cat,
            rle: serde_json::to_value(&inst.mask)
                .map_err(|e| ExportError::Invalid(e.to_string()))?,
            area: inst.mask.area() as i64,
            bbox: inst.mask.bbox(),
            score: inst.score.map(f64::from),
            prompts,
            client_id: None,
            attributes,
        });
    }
    let added = store.import_instances(&news, author).await?;
    report.instances_added = added.len();
    report.skipped = skipped;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_status_is_refused_with_the_known_ones() {
        let err = ExportFilter::new(Some("finished"), true).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"finished\""), "{message}");
        assert!(message.contains("needs_review"), "{message}");
        let ok = ExportFilter::new(Some("done"), false).unwrap();
        assert_eq!(ok.status.as_deref(), Some("done"));
    }

    #[tokio::test]
    async fn export_project_scans_the_folder_and_writes_coco() {
        let dir = tempfile::tempdir().unwrap();
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
        std::fs::copy(samples.join("coffee.png"), dir.path().join("coffee.png")).unwrap();
        let out = dir.path().join("out/coco.json");
        let filter = ExportFilter::new(None, true).unwrap();
        let summary = export_project(dir.path(), None, ExportFormat::Coco, &filter, &out)
            .await
            .unwrap();
        assert_eq!((summary.images, summary.instances), (1, 0));
        let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(doc["images"][0]["file_name"], "coffee.png");

        let missing = dir.path().join("no-such-project");
        match export_project(&missing, None, ExportFormat::Coco, &filter, &out).await {
            Err(ExportError::Project { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected a missing-project error, got {other:?}"),
        }
    }
}
