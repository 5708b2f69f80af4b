//! The agreement and progress report of a team project (`samkit report`, `GET
//! /api/report`): on images given to several annotators, their instances matched one to
//! one per category by mask IoU (`samkit-agreement`), per image and per annotator pair;
//! per annotator, images done, instances, seconds and prompts per instance, and how often
//! their work was sent back.

use std::collections::{BTreeMap, HashMap};

use samkit_agreement::{compare, Annotation, Comparison};
use samkit_mask::CocoRle;
use samkit_store::{Assignment, HistoryQuery, Store, WorkState};
use serde::Serialize;
use serde_json::Value;

/// Agreement of two annotators on one image (or pooled over their shared images).
#[derive(Debug, Clone, Serialize)]
pub struct PairAgreement {
    /// Present on a per-image row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub a: String,
    pub b: String,
    /// Images compared (1 on a per-image row).
    pub images: usize,
    pub instances_a: usize,
    pub instances_b: usize,
    pub matched: usize,
    pub mean_iou: Option<f64>,
    pub f1_50: Option<f64>,
    pub f1_75: Option<f64>,
    pub only_a: usize,
    pub only_b: usize,
}

impl PairAgreement {
    fn new(a: &str, b: &str, images: usize, c: &Comparison) -> Self {
        PairAgreement {
            image_id: None,
            image: None,
            a: a.to_string(),
            b: b.to_string(),
            images,
            instances_a: c.n_a,
            instances_b: c.n_b,
            matched: c.matches.len(),
            mean_iou: c.mean_iou(),
            f1_50: c.f1(0.5),
            f1_75: c.f1(0.75),
            only_a: c.only_a(),
            only_b: c.only_b(),
        }
    }
}

/// One annotator's progress and work.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AnnotatorProgress {
    pub name: String,
    pub assigned: usize,
    /// Submitted or approved.
    pub done: usize,
    pub approved: usize,
    pub instances: usize,
    /// Time from the work's start to its last submission, summed over the images
    /// submitted, per instance made there.
    pub seconds_per_instance: Option<f64>,
    /// Points and boxes per instance.
    pub prompts_per_instance: Option<f64>,
    pub submissions: usize,
    pub rejections: usize,
    pub rejection_rate: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Images given to more than one annotator.
    pub overlap_images: usize,
    pub pairs: Vec<PairAgreement>,
    pub per_image: Vec<PairAgreement>,
    pub annotators: Vec<AnnotatorProgress>,
    /// The history position the report reflects.
    pub history_id: i64,
}

fn prompt_count(prompts: &Value) -> usize {
    let points = prompts
        .get("points")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    points + usize::from(prompts.get("box").is_some_and(|b| !b.is_null()))
}

fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(a).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(b).ok()?;
    Some((b - a).num_milliseconds() as f64 / 1000.0)
}

/// Every history entry about assignments, oldest first (the store pages by 1000).
async fn assignment_history(
    store: &Store,
    project_id: i64,
) -> samkit_store::Result<Vec<samkit_store::HistoryEntry>> {
    let mut out = Vec::new();
    let mut since = 0;
    loop {
        let q = HistoryQuery {
            entity: Some("assignment".into()),
            since: Some(since),
            limit: Some(1000),
            ..Default::default()
        };
        let page = store.history(project_id, &q).await?;
        let Some(last) = page.last() else { break };
        since = last.id;
        let full = page.len() == 1000;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Builds the report of a project from its database.
pub async fn report(store: &Store, project_id: i64) -> Result<Report, String> {
    let err = |e: samkit_store::StoreError| e.to_string();
    let history_id = store.last_history_id(project_id).await.map_err(err)?;
    let work: Vec<Assignment> = store
        .assignments(project_id, &Default::default())
        .await
        .map_err(err)?;
    let images: HashMap<i64, String> = store
        .list_images(project_id)
        .await
        .map_err(err)?
        .into_iter()
        .map(|i| (i.id, i.path))
        .collect();
    let instances = store.project_instances(project_id).await.map_err(err)?;
    let mut by_work: HashMap<i64, Vec<&samkit_store::Instance>> = HashMap::new();
    for i in &instances {
        if let Some(a) = i.assignment_id {
            by_work.entry(a).or_default().push(i);
        }
    }

    // Agreement on every image given to two or more annotators, each pair once.
    let mut by_image: BTreeMap<i64, Vec<&Assignment>> = BTreeMap::new();
    for a in &work {
        by_image.entry(a.image_id).or_default().push(a);
    }
    let annotations = |a: &Assignment| -> Result<Vec<Annotation>, String> {
        by_work
            .get(&a.id)
            .into_iter()
            .flatten()
            .map(|i| {
                let mask: CocoRle = serde_json::from_value(i.rle.0.clone())
                    .map_err(|e| format!("instance {} has a damaged mask: {e}", i.id))?;
                Ok(Annotation {
                    id: i.id,
                    category_id: i.category_id,
                    mask,
                })
            })
            .collect()
    };
    let mut per_image = Vec::new();
    let mut pooled: BTreeMap<(String, String), Vec<Comparison>> = BTreeMap::new();
    let mut overlap_images = 0;
    for (image_id, mut list) in by_image {
        if list.len() < 2 {
            continue;
        }
        overlap_images += 1;
        list.sort_by(|x, y| x.user_name.cmp(&y.user_name));
        for i in 0..list.len() {
            for j in i + 1..list.len() {
                let (a, b) = (list[i], list[j]);
                let c = compare(&annotations(a)?, &annotations(b)?).map_err(|e| e.to_string())?;
                let mut row = PairAgreement::new(&a.user_name, &b.user_name, 1, &c);
                row.image_id = Some(image_id);
                row.image = images.get(&image_id).cloned();
                per_image.push(row);
                pooled
                    .entry((a.user_name.clone(), b.user_name.clone()))
                    .or_default()
                    .push(c);
            }
        }
    }
    let pairs = pooled
        .iter()
        .map(|((a, b), cs)| PairAgreement::new(a, b, cs.len(), &Comparison::pooled(cs)))
        .collect();

    // Progress per annotator, from their assignments and the workflow's history.
    let history = assignment_history(store, project_id).await.map_err(err)?;
    let mut started: HashMap<i64, String> = HashMap::new();
    let mut submitted: HashMap<i64, String> = HashMap::new();
    let mut people: BTreeMap<String, AnnotatorProgress> = BTreeMap::new();
    let owner: HashMap<i64, &str> = work.iter().map(|a| (a.id, a.user_name.as_str())).collect();
    for e in &history {
        let Some(name) = owner.get(&e.entity_id) else {
            continue;
        };
        let p = people.entry(name.to_string()).or_default();
        match e.action.as_str() {
            "start" => {
                started.entry(e.entity_id).or_insert_with(|| e.at.clone());
            }
            "submit" => {
                p.submissions += 1;
                submitted.insert(e.entity_id, e.at.clone());
            }
            "reject" => p.rejections += 1,
            _ => {}
        }
    }
    let (mut seconds, mut timed) = (HashMap::<&str, f64>::new(), HashMap::<&str, usize>::new());
    let mut prompts: HashMap<&str, usize> = HashMap::new();
    for a in &work {
        let p = people.entry(a.user_name.clone()).or_default();
        let made = by_work.get(&a.id).map_or(0, Vec::len);
        p.assigned += 1;
        p.instances += made;
        let state = a.work_state();
        if matches!(state, WorkState::Submitted | WorkState::Approved) {
            p.done += 1;
        }
        if state == WorkState::Approved {
            p.approved += 1;
        }
        *prompts.entry(&a.user_name).or_default() += by_work
            .get(&a.id)
            .into_iter()
            .flatten()
            .map(|i| prompt_count(&i.prompts.0))
            .sum::<usize>();
        if let (Some(s), Some(t)) = (started.get(&a.id), submitted.get(&a.id)) {
            if let Some(dt) = seconds_between(s, t) {
                *seconds.entry(&a.user_name).or_default() += dt.max(0.0);
                *timed.entry(&a.user_name).or_default() += made;
            }
        }
    }
    let annotators = people
        .into_iter()
        .map(|(name, mut p)| {
            p.seconds_per_instance = timed
                .get(name.as_str())
                .filter(|&&n| n > 0)
                .map(|&n| seconds[name.as_str()] / n as f64);
            p.prompts_per_instance = (p.instances > 0).then(|| {
                prompts.get(name.as_str()).copied().unwrap_or(0) as f64 / p.instances as f64
            });
            p.rejection_rate =
                (p.submissions > 0).then(|| p.rejections as f64 / p.submissions as f64);
            p.name = name;
            p
        })
        .collect();
    Ok(Report {
        overlap_images,
        pairs,
        per_image,
        annotators,
        history_id,
    })
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// The report as text tables (for `samkit report`).
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Agreement on {} image(s) given to several annotators (instances matched one to one per category by mask IoU)",
        r.overlap_images
    );
    let _ = writeln!(
        s,
        "{:<16} {:<16} {:>6} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "annotator A",
        "annotator B",
        "images",
        "instances",
        "mean IoU",
        "F1@.50",
        "F1@.75",
        "only A",
        "only B"
    );
    for p in &r.pairs {
        let _ = writeln!(
            s,
            "{:<16} {:<16} {:>6} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7}",
            p.a,
            p.b,
            p.images,
            format!("{}/{}", p.instances_a, p.instances_b),
            fmt(p.mean_iou, 3),
            fmt(p.f1_50, 3),
            fmt(p.f1_75, 3),
            p.only_a,
            p.only_b
        );
    }
    let _ = writeln!(s, "\nPer image");
    for p in &r.per_image {
        let _ = writeln!(
            s,
            "{:<28} {:<12} {:<12} mean IoU {:>5}  F1@.50 {:>5}  F1@.75 {:>5}  only {}/{}",
            p.image.as_deref().unwrap_or("?"),
            p.a,
            p.b,
            fmt(p.mean_iou, 3),
            fmt(p.f1_50, 3),
            fmt(p.f1_75, 3),
            p.only_a,
            p.only_b
        );
    }
    let _ = writeln!(s, "\nAnnotators");
    let _ = writeln!(
        s,
        "{:<16} {:>8} {:>6} {:>8} {:>9} {:>10} {:>10} {:>10}",
        "name", "assigned", "done", "approved", "instances", "s/instance", "prompts/in", "rejected"
    );
    for a in &r.annotators {
        let _ = writeln!(
            s,
            "{:<16} {:>8} {:>6} {:>8} {:>9} {:>10} {:>10} {:>10}",
            a.name,
            a.assigned,
            a.done,
            a.approved,
            a.instances,
            fmt(a.seconds_per_instance, 1),
            fmt(a.prompts_per_instance, 2),
            match a.rejection_rate {
                Some(r) => format!("{}/{} {:.0}%", a.rejections, a.submissions, r * 100.0),
                None => "–".into(),
            }
        );
    }
    let _ = writeln!(s, "\n(dataset version: history entry {})", r.history_id);
    s
}
