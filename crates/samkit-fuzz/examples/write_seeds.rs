//! Writes the committed seed corpora under `fuzz/corpus/<target>/`: small valid inputs
//! (plus a few near misses) for each fuzz target. Run from the repository root:
//! `cargo run -p samkit-fuzz --example write_seeds`. The output is deterministic.

use image::{DynamicImage, ImageFormat, Luma, LumaA, Rgb, RgbImage, Rgba};
use samkit_formats::CocoRle;
use std::io::{Cursor, Write};
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    // A 3 × 4 mask (h × w): column-major runs 2 background, 5 foreground, 5 background.
    let rle = CocoRle::from_counts(3, 4, vec![2, 5, 5]).unwrap();
    let compressed = rle.to_compressed();

    // --- coco_json
    let full = format!(
        r#"{{"images":[{{"id":1,"file_name":"a.png","width":4,"height":3}},{{"id":2,"file_name":"b.jpg","width":2,"height":2}}],
"categories":[{{"id":1,"name":"cat","color":[255,0,0],"supercategory":"animal"}},{{"id":7,"name":"dog"}}],
"annotations":[
{{"id":1,"image_id":1,"category_id":1,"segmentation":{{"size":[3,4],"counts":"{compressed}"}},"iscrowd":0,"score":0.9,"samkit":{{"prompts":{{"points":[[1,1,1],[2,0,0]],"box":[0,0,3,2]}}}}}},
{{"id":2,"image_id":1,"category_id":7,"segmentation":[[0,0,3,0,3,2,0,2]],"area":6,"bbox":[0,0,3,2]}},
{{"id":3,"image_id":1,"category_id":1,"segmentation":{{"size":[3,4],"counts":[2,5,5]}},"iscrowd":1}},
{{"id":4,"image_id":2,"category_id":7,"segmentation":[[0,0,1.5,0,1.5,1.5],[0.2,0.2,1,0.2,1,1]],"iscrowd":false}}
]}}"#
    );
    write("coco_json", "full.json", full.as_bytes());
    write(
        "coco_json",
        "empty.json",
        br#"{"images":[],"categories":[],"annotations":[]}"#,
    );
    write(
        "coco_json",
        "invalid_items.json",
        br#"{"images":[{"id":1,"file_name":"a.png","width":4,"height":3},{"id":1,"file_name":"dup.png","width":1,"height":1}],
"categories":[{"id":1,"name":"x"}],
"annotations":[{"id":1,"image_id":9,"category_id":1,"segmentation":[[0,0,1,0,1,1]]},
{"id":2,"image_id":1,"category_id":1,"segmentation":{"size":[4,3],"counts":[12]}},
{"id":3,"image_id":1,"category_id":1,"segmentation":[[0,0,1]]}]}"#,
    );

    // --- rle: JSON objects and header + compressed string.
    write(
        "rle",
        "json_compressed",
        format!(r#"{{"size":[3,4],"counts":"{compressed}"}}"#).as_bytes(),
    );
    write("rle", "json_runs", br#"{"size":[3,4],"counts":[2,5,5]}"#);
    write("rle", "json_empty", br#"{"size":[0,0],"counts":[]}"#);
    let header = |h: u16, w: u16, s: &str| {
        let mut v = h.to_le_bytes().to_vec();
        v.extend_from_slice(&w.to_le_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    };
    write("rle", "compressed_3x4", &header(3, 4, &compressed));
    let ring = {
        let mut m = vec![0u8; 40 * 30];
        for y in 5..25 {
            for x in 5..35 {
                m[y * 40 + x] = u8::from(!(12..18).contains(&y) || !(15..25).contains(&x));
            }
        }
        CocoRle::encode(&samkit_formats::Mask::from_raw(40, 30, m).unwrap())
    };
    write(
        "rle",
        "compressed_ring_30x40",
        &header(30, 40, &ring.to_compressed()),
    );
    write(
        "rle",
        "compressed_large_runs",
        &header(
            1000,
            1000,
            &CocoRle::from_counts(1000, 1000, vec![400_000, 200_000, 400_000])
                .unwrap()
                .to_compressed(),
        ),
    );

    // --- yolo_labels: h, w (u16 LE), label lines, NUL, classes.txt or data.yaml.
    let yolo = |h: u16, w: u16, labels: &str, names: Option<&str>| {
        let mut v = header(h, w, labels);
        if let Some(n) = names {
            v.push(0);
            v.extend_from_slice(n.as_bytes());
        }
        v
    };
    write(
        "yolo_labels",
        "classes_txt",
        &yolo(
            30,
            40,
            "0 0.1 0.1 0.9 0.1 0.9 0.8 0.1 0.8\n1 0.5 0.5 0.7 0.5 0.6 0.9\n",
            Some("cat\ndog\n"),
        ),
    );
    write(
        "yolo_labels",
        "data_yaml_block",
        &yolo(
            480,
            640,
            "0 0 0 1 0 1 1\n",
            Some("nc: 2\nnames:\n  0: \"a b\"\n  1: c\n"),
        ),
    );
    write(
        "yolo_labels",
        "data_yaml_flow",
        &yolo(
            8,
            8,
            "1 0.2 0.2 0.8 0.2 0.5 0.9\n\n",
            Some("names: ['x', \"y\"]\n"),
        ),
    );
    write(
        "yolo_labels",
        "no_names",
        &yolo(100, 50, "3 0.1 0.1 0.4 0.1 0.4 0.4\n", None),
    );

    // --- zip_import: YOLO exports as the server receives them (images are in the
    // project folder the target sets up: a.png 8×8, b.jpg unreadable).
    let zip = |files: &[(&str, &str)]| {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, text) in files {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file(*name, opts).unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    write(
        "zip_import",
        "export.zip",
        &zip(&[
            ("labels/a.txt", "0 0.1 0.1 0.9 0.1 0.5 0.9\n"),
            ("labels/b.txt", "0 0 0 1 0 1 1\n"),
            ("classes.txt", "thing\n"),
            ("data.yaml", "names:\n  0: thing\n"),
        ]),
    );
    write(
        "zip_import",
        "nested.zip",
        &zip(&[
            ("export/yolo/labels/a.txt", "1 0.2 0.2 0.8 0.2 0.8 0.8\n"),
            ("export/yolo/data.yaml", "names: [a, b]\n"),
        ]),
    );
    write(
        "zip_import",
        "bare_txt.zip",
        &zip(&[("a.txt", "0 0.1 0.1 0.9 0.1 0.5 0.9\n")]),
    );

    // --- image_decode: one tiny image per format and pixel type.
    let rgb = RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 50, y as u8 * 80, 128]));
    let encode = |img: &DynamicImage, fmt: ImageFormat| {
        let mut c = Cursor::new(Vec::new());
        img.write_to(&mut c, fmt).unwrap();
        c.into_inner()
    };
    let dynamic = DynamicImage::ImageRgb8(rgb.clone());
    write(
        "image_decode",
        "rgb.png",
        &encode(&dynamic, ImageFormat::Png),
    );
    write(
        "image_decode",
        "rgb.jpg",
        &encode(&dynamic, ImageFormat::Jpeg),
    );
    write(
        "image_decode",
        "rgb.bmp",
        &encode(&dynamic, ImageFormat::Bmp),
    );
    write(
        "image_decode",
        "rgb.tiff",
        &encode(&dynamic, ImageFormat::Tiff),
    );
    write(
        "image_decode",
        "rgb.webp",
        &encode(&dynamic, ImageFormat::WebP),
    );
    let grey16 =
        image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(3, 2, |x, _| Luma([x as u16 * 30000]));
    write(
        "image_decode",
        "grey16.png",
        &encode(&DynamicImage::ImageLuma16(grey16), ImageFormat::Png),
    );
    let la = image::ImageBuffer::<LumaA<u8>, Vec<u8>>::from_fn(2, 2, |x, y| {
        LumaA([x as u8 * 200, y as u8 * 255])
    });
    write(
        "image_decode",
        "grey_alpha.png",
        &encode(&DynamicImage::ImageLumaA8(la), ImageFormat::Png),
    );
    let rgba = image::RgbaImage::from_fn(3, 3, |x, y| Rgba([x as u8, y as u8, 7, 100]));
    write(
        "image_decode",
        "rgba.png",
        &encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png),
    );
    // JPEG with an EXIF orientation (6: rotate 90°), as phones write them.
    let jpeg = encode(&dynamic, ImageFormat::Jpeg);
    let tiff: &[u8] = &[
        b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
    ];
    let mut exif = jpeg[..2].to_vec();
    exif.extend_from_slice(&[0xFF, 0xE1]);
    exif.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    exif.extend_from_slice(b"Exif\0\0");
    exif.extend_from_slice(tiff);
    exif.extend_from_slice(&jpeg[2..]);
    write("image_decode", "exif_rotated.jpg", &exif);

    // --- api_body: route selector byte (see samkit_server::check_request_body), JSON body.
    let api = |route: u8, body: &str| {
        let mut v = vec![route];
        v.extend_from_slice(body.as_bytes());
        v
    };
    write(
        "api_body",
        "predict_points",
        &api(
            0,
            r#"{"points":[{"x":10.5,"y":20,"label":"positive"},{"x":100,"y":50,"label":0}],"multimask":true,"wait_ms":100}"#,
        ),
    );
    write(
        "api_body",
        "predict_box_prev",
        &api(
            0,
            r#"{"box":[1,2,300,400],"prev":{"token":"abc","candidate":1}}"#,
        ),
    );
    write(
        "api_body",
        "create_instance",
        &api(
            1,
            r#"{"category_id":1,"rle":{"size":[480,640],"counts":[1000,50,306150]},"score":0.5,"prompts":{"points":[[1,2,1]]},"client_id":"c1"}"#,
        ),
    );
    write(
        "api_body",
        "patch_instance",
        &api(
            2,
            &format!(
                r#"{{"version":3,"category_id":2,"rle":{{"size":[480,640],"counts":"{}"}}}}"#,
                CocoRle::from_counts(480, 640, vec![100, 200, 306900])
                    .unwrap()
                    .to_compressed()
            ),
        ),
    );
    write(
        "api_body",
        "image_status",
        &api(3, r#"{"status":"needs_review","version":1}"#),
    );
    write(
        "api_body",
        "guidelines",
        &api(4, r#"{"guidelines":"Label every cat.\n","version":2}"#),
    );
    write("api_body", "embed", &api(5, r#"{"priority":"background"}"#));
    write("api_body", "restore", &api(6, r#"{"version":4}"#));
    write(
        "api_body",
        "create_category",
        &api(7, r##"{"name":"cat","color":"#ff0000"}"##),
    );
    write(
        "api_body",
        "patch_category",
        &api(8, r#"{"version":1,"name":"dog"}"#),
    );
}
