//! `samkit auto --format coco`: one COCO file assembled from the per-image parts in
//! `OUT.parts/` (SAM's records with COCO RLE, as sam-json writes them), so a run cut
//! short resumes from its parts.

use anyhow::Context;

use super::plan::Job;
use super::AutoArgs;

/// The COCO file of the images whose parts are complete, in plan order: image ids 1..,
/// one class-agnostic category, each record an instance scored by its predicted IoU with
/// its point as prompt.
pub fn write_coco(jobs: &[Job], args: &AutoArgs) -> anyhow::Result<()> {
    use samkit_formats::{AnnotationSet, Category, ImageInfo, Instance, PromptPoint, Prompts};
    /// One sam-json record's fields that COCO keeps.
    struct Part {
        segmentation: samkit_mask::CocoRle,
        predicted_iou: f32,
        point_coords: Vec<[f64; 2]>,
    }
    fn part(v: serde_json::Value) -> Option<Part> {
        let point_coords = v["point_coords"]
            .as_array()?
            .iter()
            .map(|p| Some([p[0].as_f64()?, p[1].as_f64()?]))
            .collect::<Option<Vec<_>>>()?;
        Some(Part {
            segmentation: serde_json::from_value(v["segmentation"].clone()).ok()?,
            predicted_iou: v["predicted_iou"].as_f64()? as f32,
            point_coords,
        })
    }
    let mut set = AnnotationSet {
        categories: vec![Category {
            id: 1,
            name: "object".into(),
            color: None,
            supercategory: None,
        }],
        ..Default::default()
    };
    for (k, job) in jobs.iter().enumerate() {
        let bytes = std::fs::read(&job.output)
            .with_context(|| format!("cannot read {}", job.output.display()))?;
        let not_records = || {
            format!(
                "{} is not SAM's records with COCO RLE (rerun with --force)",
                job.output.display()
            )
        };
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(&bytes).with_context(not_records)?;
        let records: Vec<Part> = values
            .into_iter()
            .map(part)
            .collect::<Option<_>>()
            .with_context(not_records)?;
        let image_id = k as u64 + 1;
        let (width, height) = match records.first() {
            Some(r) => (r.segmentation.width(), r.segmentation.height()),
            None => {
                let img = samkit_engine::load_rgb_with(
                    &job.image,
                    args.budget.budget(),
                    &args.read.options(),
                )?;
                img.dimensions()
            }
        };
        set.images.push(ImageInfo {
            id: image_id,
            file_name: job.name.clone(),
            width,
            height,
        });
        for r in records {
            set.instances.push(Instance {
                id: set.instances.len() as u64 + 1,
                image_id,
                category_id: 1,
                mask: r.segmentation,
                score: Some(r.predicted_iou),
                prompts: Prompts {
                    points: r
                        .point_coords
                        .iter()
                        .map(|p| PromptPoint {
                            x: p[0] as f32,
                            y: p[1] as f32,
                            label: 1,
                        })
                        .collect(),
                    bbox: None,
                },
                iscrowd: false,
                attributes: Default::default(),
            });
        }
    }
    samkit_formats::coco::export_coco(
        &set,
        &args.out,
        &samkit_formats::coco::CocoExportOptions::default(),
        &mut |_, _| {},
    )
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(())
}
