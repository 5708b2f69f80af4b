//! Figures per variant (NoC@85/90, mIoU@k, never-reach counts, timings), as a
//! `summary.json`-like document and as text tables.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::metrics::{mean, median, miou_at, never_reaches, noc};
use crate::run::{InstanceResult, Variant};

/// The click counts reported as mIoU@k (those ≤ `max_clicks`, plus `max_clicks`).
pub const MIOU_AT: [usize; 6] = [1, 2, 3, 5, 10, 20];

/// Figures at one IoU threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct NocFigures {
    /// Mean number of clicks to reach the threshold (`max_clicks` when never).
    pub noc: f64,
    /// Instances that never reach it within `max_clicks`.
    pub never: usize,
    /// Instances whose NoC equals `max_clicks` (never, or only at the last click).
    pub at_max: usize,
}

/// Figures of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSummary {
    pub variant: Variant,
    /// Instances evaluated.
    pub n: usize,
    pub noc85: NocFigures,
    pub noc90: NocFigures,
    /// mIoU after k clicks, for every k in 1..=max_clicks (index k − 1).
    pub miou: Vec<f64>,
    /// Seconds per click (per decoder call: with zoom-in, crop encodes included), the
    /// table's `ms/click`.
    pub decoder_mean_s: f64,
    pub decoder_median_s: f64,
    pub decoder_calls: usize,
}

impl VariantSummary {
    /// mIoU after `k` clicks (1-based).
    pub fn miou_at(&self, k: usize) -> Option<f64> {
        k.checked_sub(1).and_then(|i| self.miou.get(i)).copied()
    }
}

/// The whole evaluation's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub max_clicks: usize,
    pub images: usize,
    pub encoder_mean_s: f64,
    pub encoder_median_s: f64,
    pub variants: Vec<VariantSummary>,
}

fn noc_figures(curves: &[&[f64]], t: f64, max_clicks: usize) -> NocFigures {
    NocFigures {
        noc: mean(curves.iter().map(|c| noc(c, t, max_clicks) as f64)).unwrap_or(0.0),
        never: curves
            .iter()
            .filter(|c| never_reaches(c, t, max_clicks))
            .count(),
        at_max: curves
            .iter()
            .filter(|c| noc(c, t, max_clicks) == max_clicks)
            .count(),
    }
}

impl Summary {
    /// Figures of `results` (several variants mixed; any order).
    pub fn new(results: &[InstanceResult], max_clicks: usize) -> Summary {
        let variants: BTreeSet<Variant> = results.iter().map(|r| r.variant).collect();
        let mut encoder: BTreeMap<&str, f64> = BTreeMap::new();
        for r in results {
            encoder.entry(r.name.as_str()).or_insert(r.encoder_s);
        }
        let enc: Vec<f64> = encoder.values().copied().collect();
        let variants = variants
            .into_iter()
            .map(|variant| {
                let rs: Vec<&InstanceResult> =
                    results.iter().filter(|r| r.variant == variant).collect();
                let curves: Vec<&[f64]> = rs.iter().map(|r| r.ious.as_slice()).collect();
                let dec: Vec<f64> = rs
                    .iter()
                    .flat_map(|r| r.decoder_s.iter().copied())
                    .collect();
                VariantSummary {
                    variant,
                    n: rs.len(),
                    noc85: noc_figures(&curves, 0.85, max_clicks),
                    noc90: noc_figures(&curves, 0.90, max_clicks),
                    miou: (1..=max_clicks)
                        .map(|k| miou_at(&curves, k).unwrap_or(0.0))
                        .collect(),
                    decoder_mean_s: mean(dec.iter().copied()).unwrap_or(0.0),
                    decoder_median_s: median(&dec).unwrap_or(0.0),
                    decoder_calls: dec.len(),
                }
            })
            .collect();
        Summary {
            max_clicks,
            images: enc.len(),
            encoder_mean_s: mean(enc.iter().copied()).unwrap_or(0.0),
            encoder_median_s: median(&enc).unwrap_or(0.0),
            variants,
        }
    }

    /// The variant's figures, if it was run.
    pub fn variant(&self, v: Variant) -> Option<&VariantSummary> {
        self.variants.iter().find(|s| s.variant == v)
    }

    fn miou_ks(&self) -> Vec<usize> {
        let mut ks: Vec<usize> = MIOU_AT
            .iter()
            .copied()
            .filter(|&k| k <= self.max_clicks)
            .collect();
        if !ks.contains(&self.max_clicks) {
            ks.push(self.max_clicks);
        }
        ks
    }

    /// A document shaped like the reference `summary.json`; `extra` fields (dataset, model,
    /// runtime, threads, skipped, ...) are merged in at the top level.
    pub fn to_json(&self, extra: Map<String, Value>) -> Value {
        let m = self.max_clicks;
        let mut variants = Map::new();
        for v in &self.variants {
            let mut o = Map::new();
            o.insert("n".into(), json!(v.n));
            for (t, f) in [("85", &v.noc85), ("90", &v.noc90)] {
                o.insert(format!("NoC@{t}"), json!(f.noc));
                o.insert(format!("never@{t}"), json!(f.never));
                o.insert(format!("NoC=={m}@{t}"), json!(f.at_max));
            }
            for k in self.miou_ks() {
                o.insert(format!("mIoU@{k}"), json!(v.miou_at(k)));
            }
            o.insert("mIoU_curve".into(), json!(v.miou));
            o.insert("decoder_mean_s".into(), json!(v.decoder_mean_s));
            o.insert("decoder_median_s".into(), json!(v.decoder_median_s));
            o.insert("decoder_calls".into(), json!(v.decoder_calls));
            variants.insert(v.variant.name().into(), Value::Object(o));
        }
        let mut doc = extra;
        doc.insert("max_clicks".into(), json!(m));
        doc.insert("images".into(), json!(self.images));
        doc.insert(
            "timing_s".into(),
            json!({"encoder_mean": self.encoder_mean_s, "encoder_median": self.encoder_median_s}),
        );
        doc.insert("variants".into(), Value::Object(variants));
        Value::Object(doc)
    }

    /// The overall table: one row per variant.
    pub fn table(&self) -> String {
        let ks = [1, 3, 5, self.max_clicks];
        let mut s = String::new();
        let _ = write!(
            s,
            "{:<8} {:>5} {:>7} {:>7}",
            "variant", "n", "NoC@85", "NoC@90"
        );
        for k in ks {
            let _ = write!(s, " {:>8}", format!("mIoU@{k}"));
        }
        let _ = writeln!(
            s,
            " {:>8} {:>8} {:>9} {:>9}",
            "never85", "never90", "enc ms", "ms/click"
        );
        for v in &self.variants {
            let _ = write!(
                s,
                "{:<8} {:>5} {:>7.2} {:>7.2}",
                v.variant.name(),
                v.n,
                v.noc85.noc,
                v.noc90.noc
            );
            for k in ks {
                let _ = write!(s, " {:>8.2}", 100.0 * v.miou_at(k).unwrap_or(0.0));
            }
            let _ = writeln!(
                s,
                " {:>8} {:>8} {:>9.0} {:>9.1}",
                v.noc85.never,
                v.noc90.never,
                1000.0 * self.encoder_mean_s,
                1000.0 * v.decoder_mean_s
            );
        }
        s
    }
}

/// The per-image table: one row per instance and variant, in name order.
pub fn per_image_table(results: &[InstanceResult], max_clicks: usize) -> String {
    let ks = [1, 3, 5, max_clicks];
    let mut rows: Vec<&InstanceResult> = results.iter().collect();
    rows.sort_by(|a, b| (&a.name, a.instance, a.variant).cmp(&(&b.name, b.instance, b.variant)));
    let mut s = String::new();
    let _ = write!(
        s,
        "{:<24} {:<7} {:>6} {:>6} {:>6}",
        "image#instance", "variant", "clicks", "NoC85", "NoC90"
    );
    for k in ks {
        let _ = write!(s, " {:>7}", format!("IoU@{k}"));
    }
    let _ = writeln!(s, " {:>8} {:>8}", "enc ms", "dec ms");
    for r in rows {
        let _ = write!(
            s,
            "{:<24} {:<7} {:>6} {:>6} {:>6}",
            format!("{}#{}", r.name, r.instance),
            r.variant.name(),
            r.clicks.len(),
            noc(&r.ious, 0.85, max_clicks),
            noc(&r.ious, 0.90, max_clicks)
        );
        for k in ks {
            let v = r.ious.get(k.wrapping_sub(1)).copied().unwrap_or(0.0);
            let _ = write!(s, " {:>7.2}", 100.0 * v);
        }
        let _ = writeln!(
            s,
            " {:>8.0} {:>8.1}",
            1000.0 * r.encoder_s,
            1000.0 * mean(r.decoder_s.iter().copied()).unwrap_or(0.0)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(variant: Variant, name: &str, ious: Vec<f64>, calls: usize) -> InstanceResult {
        InstanceResult {
            variant,
            name: name.into(),
            instance: 255,
            height: 2,
            width: 2,
            clicks: vec![[0, 0, 1]; calls],
            ious,
            encoder_s: 1.0,
            decoder_s: vec![0.1; calls],
        }
    }

    #[test]
    fn summary_figures_and_json() {
        let rs = vec![
            result(Variant::Prev, "a", vec![0.5, 0.86, 0.91], 3),
            result(Variant::Prev, "b", vec![0.95, 0.95, 0.95], 1),
            result(Variant::Nomask, "a", vec![0.5, 0.6, 0.7], 3),
        ];
        let s = Summary::new(&rs, 3);
        assert_eq!(s.images, 2);
        let p = s.variant(Variant::Prev).unwrap();
        assert_eq!(p.n, 2);
        assert_eq!(p.noc85.noc, 1.5);
        assert_eq!(p.noc90.noc, 2.0);
        assert_eq!(p.noc90.never, 0);
        assert_eq!(p.noc90.at_max, 1);
        assert_eq!(p.decoder_calls, 4);
        assert!((p.miou_at(1).unwrap() - 0.725).abs() < 1e-12);
        let n = s.variant(Variant::Nomask).unwrap();
        assert_eq!((n.noc85.never, n.noc85.noc), (1, 3.0));
        let doc = s.to_json(Map::new());
        assert_eq!(doc["variants"]["prev"]["NoC@90"], json!(2.0));
        assert_eq!(doc["variants"]["nomask"]["never@85"], json!(1));
        assert_eq!(doc["variants"]["prev"]["NoC==3@90"], json!(1));
        assert!(doc["variants"]["prev"].get("mIoU@3").is_some());
        assert!(doc["variants"]["prev"].get("mIoU@5").is_none());
        assert!(s.table().contains("prev"));
        assert!(per_image_table(&rs, 3).contains("a#255"));
    }
}
