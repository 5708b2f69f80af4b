//! Export of the project and import of annotations (COCO JSON, YOLO zip).

use super::*;
use crate::upload;

#[derive(Deserialize)]
pub(super) struct ExportReq {
    pub(super) format: Option<String>,
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) include_missing: Option<bool>,
}

pub(super) fn export_err(e: export::ExportError) -> ApiError {
    match e {
        export::ExportError::Store(s) => store_err(s),
        export::ExportError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    }
}

pub(super) async fn export_route(
    State(st): S,
    ApiQuery(q): ApiQuery<ExportReq>,
) -> ApiResult<Response> {
    let fmt: ExportFormat = q
        .format
        .as_deref()
        .unwrap_or("coco")
        .parse()
        .map_err(ApiError::bad_request)?;
    let filter = ExportFilter::new(q.status.as_deref(), q.include_missing.unwrap_or(true))
        .map_err(export_err)?;
    // The dataset version: the history position the export reflects.
    let history_id = st.store.last_history_id(st.project_id).await.api()?;
    let set = export::annotation_set(&st.store, st.project_id, &filter)
        .await
        .map_err(export_err)?;
    let name: String = st
        .store
        .project(st.project_id)
        .await
        .api()?
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let root = st.root.clone();
    let (ct, file, bytes) =
        tokio::task::spawn_blocking(move || -> Result<_, export::ExportError> {
            if fmt.is_single_json() {
                let doc = export::coco_doc(&set, fmt)?;
                let bytes = serde_json::to_vec(&doc)
                    .map_err(|e| export::ExportError::Invalid(e.to_string()))?;
                return Ok((
                    "application/json",
                    format!("{name}-{}.json", fmt.name()),
                    bytes,
                ));
            }
            let tmp = tempfile::tempdir().map_err(|source| export::ExportError::Io {
                what: "temporary folder".into(),
                source,
            })?;
            let out = tmp.path().join("export");
            export::write_export(&set, fmt, &out, Some(&root))?;
            let zip = export::zip_dir(&out)?;
            Ok(("application/zip", format!("{name}-{}.zip", fmt.name()), zip))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(export_err)?;
    let disp = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disp).unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (
                header::HeaderName::from_static("x-samkit-history-id"),
                HeaderValue::from(history_id),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct ImportReq {
    pub(super) format: Option<String>,
}

/// How many skipped items an import answer lists (the total is `skipped_total`).
const SKIPS_SHOWN: usize = 100;

fn upload_err(e: upload::UploadError) -> ApiError {
    match e {
        upload::UploadError::TooBig(m) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large", m)
        }
        upload::UploadError::Invalid(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_upload", m)
        }
        other => ApiError::internal(other.to_string()),
    }
}

/// Reads a YOLO zip upload: unpacked (within budget) into a private temporary folder
/// made under `tmp_base`, read from there only (never from the folders around it).
pub(crate) fn read_yolo_upload(
    body: &[u8],
    root: &Path,
    tmp_base: &Path,
) -> ApiResult<(samkit_formats::AnnotationSet, Vec<export::ImportSkip>)> {
    let tmp = tempfile::Builder::new()
        .prefix("samkit-import-")
        .tempdir_in(tmp_base)
        .map_err(|e| ApiError::internal(format!("cannot create a temporary folder: {e}")))?;
    // The reader also looks one folder up for `classes.txt`: unpacking one level down
    // keeps that inside the private folder.
    let dir = tmp.path().join("upload");
    std::fs::create_dir(&dir)
        .map_err(|e| ApiError::internal(format!("cannot create a temporary folder: {e}")))?;
    upload::unzip(body, &dir).map_err(upload_err)?;
    let labels = export::yolo_root(&dir);
    export::read_yolo(&labels, root).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_upload",
            format!("cannot import: {e}"),
        )
    })
}

pub(super) async fn import_route(
    State(st): S,
    Author(a): Author,
    ApiQuery(q): ApiQuery<ImportReq>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Value>> {
    let fmt = q.format.as_deref().unwrap_or("coco").to_ascii_lowercase();
    let root = st.root.clone();
    let parsed = match fmt.as_str() {
        "coco" => {
            tokio::task::spawn_blocking(move || {
                upload::check_coco(&body).map_err(upload_err)?;
                export::read_coco(&body).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_upload",
                        format!("cannot import: {e}"),
                    )
                })
            })
            .await
        }
        "yolo" | "yolo-seg" => {
            tokio::task::spawn_blocking(move || {
                read_yolo_upload(&body, &root, &std::env::temp_dir())
            })
            .await
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown import format {other:?}; use coco or yolo"
            )))
        }
    };
    let (set, skipped) = parsed.map_err(|e| ApiError::internal(e.to_string()))??;
    let mut report = export::import_set(&st.store, st.project_id, &set, skipped, &a)
        .await
        .map_err(export_err)?;
    let total = report.skipped.len();
    report.skipped.truncate(SKIPS_SHOWN);
    let mut out = serde_json::to_value(report).unwrap_or(Value::Null);
    out["skipped_total"] = json!(total);
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_yolo_upload_never_reads_classes_txt_beside_its_folder() {
        let base = tempfile::tempdir().unwrap();
        // What another user or program left in the temporary folder.
        std::fs::write(base.path().join("classes.txt"), "planted\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        image::RgbImage::new(10, 10)
            .save(root.path().join("a.png"))
            .unwrap();
        let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zw.start_file("a.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zw.write_all(b"0 0.1 0.1 0.9 0.1 0.9 0.9\n").unwrap();
        let body = zw.finish().unwrap().into_inner();
        let (set, _) = read_yolo_upload(&body, root.path(), base.path()).unwrap();
        assert_eq!(set.instances.len(), 1);
        assert!(
            set.categories.iter().all(|c| c.name != "planted"),
            "{:?}",
            set.categories
        );
        // The private folder is gone afterwards.
        let left: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }
}
