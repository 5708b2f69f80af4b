"""Checks samkit's exports with the tools people use: pycocotools, numpy, Pillow.

Called by the Rust integration tests in crates/samkit-formats/tests/ (one process per
batch, python start-up being slow):

    check_coco.py rle CASES.json OUT.json   # RLE parity, both directions
    check_coco.py exports DIR               # COCO/COCOeval, PNG, NumPy, VOC, YOLO

Exit code 3: a module is missing; 1: a check failed (details on stdout).
"""

import json
import os
import sys

try:
    import numpy as np
    from PIL import Image
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"missing python module ({exc}): pip install -r requirements-test.txt")
    sys.exit(3)

FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    if len(FAILURES) <= 30:
        print("FAIL:", msg)


def bits_to_mask(bits, h, w):
    return (np.frombuffer(bits.encode(), dtype=np.uint8) - 48).reshape(h, w).astype(np.uint8)


def cmd_rle(cases_path, out_path):
    cases = json.load(open(cases_path))
    out = {"cases": [], "pairs": []}
    masks = []
    for i, c in enumerate(cases["cases"]):
        h, w = c["h"], c["w"]
        m = bits_to_mask(c["bits"], h, w)
        masks.append(m)
        # pycocotools decodes what samkit wrote (both spellings) ...
        dec = mask_utils.decode({"size": [h, w], "counts": c["compressed"].encode()})
        if not np.array_equal(dec, m):
            fail(f"case {i}: pycocotools decodes samkit's compressed RLE differently")
        unc = mask_utils.frPyObjects({"size": [h, w], "counts": c["counts"]}, h, w)
        if not np.array_equal(mask_utils.decode(unc), m):
            fail(f"case {i}: pycocotools decodes samkit's uncompressed RLE differently")
        # ... and writes its own encoding for samkit to decode.
        rle = mask_utils.encode(np.asfortranarray(m))
        out["cases"].append({
            "compressed": rle["counts"].decode(),
            "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        })
    for a, b in cases["pairs"]:
        ra = mask_utils.encode(np.asfortranarray(masks[a]))
        rb = mask_utils.encode(np.asfortranarray(masks[b]))
        union = mask_utils.merge([ra, rb], intersect=False)
        inter = mask_utils.merge([ra, rb], intersect=True)
        iou = mask_utils.iou([ra], [rb], [0])
        out["pairs"].append({
            "union": union["counts"].decode(),
            "intersection": inter["counts"].decode(),
            "iou": float(np.asarray(iou).reshape(-1)[0]),
        })
    json.dump(out, open(out_path, "w"))


def paint(shape, masks_values, dtype):
    out = np.zeros(shape, dtype=dtype)
    for m, v in masks_values:
        out[m.astype(bool)] = v
    return out


def cmd_exports(d):
    manifest = json.load(open(os.path.join(d, "manifest.json")))
    import contextlib
    import io

    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco = COCO(os.path.join(d, "coco_rle.json"))
    truth = {}
    for ann in coco.dataset["annotations"]:
        m = coco.annToMask(ann)
        truth[ann["id"]] = m
        rle = coco.annToRLE(ann)
        if int(mask_utils.area(rle)) != int(ann["area"]):
            fail(f"annotation {ann['id']}: area {ann['area']} != pycocotools {mask_utils.area(rle)}")
        if [float(v) for v in mask_utils.toBbox(rle)] != ann["bbox"]:
            fail(f"annotation {ann['id']}: bbox {ann['bbox']} != pycocotools {mask_utils.toBbox(rle)}")
        if ann["iscrowd"] != 0:
            fail(f"annotation {ann['id']}: iscrowd {ann['iscrowd']}")

    # COCOeval: the ground truth scored against itself must give AP = 1.
    with quiet:
        dets = [
            {"image_id": a["image_id"], "category_id": a["category_id"],
             "segmentation": a["segmentation"], "score": 1.0}
            for a in coco.dataset["annotations"] if a["image_id"] in manifest["eval_image_ids"]
        ]
        coco_dt = coco.loadRes(dets)
        ev = COCOeval(coco, coco_dt, "segm")
        ev.params.imgIds = manifest["eval_image_ids"]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ap = float(ev.stats[0])
    if abs(ap - 1.0) > 1e-9:
        fail(f"COCOeval segm AP on ground truth = {ap}")

    # Exact polygons decode to the same masks; simplified ones to samkit's rasterisation.
    with quiet:
        exact = COCO(os.path.join(d, "coco_poly_exact.json"))
        simple = COCO(os.path.join(d, "coco_poly.json"))
    for ann in exact.dataset["annotations"]:
        if not isinstance(ann["segmentation"], list):
            fail(f"annotation {ann['id']}: polygon export is not a polygon list")
        if not np.array_equal(exact.annToMask(ann), truth[ann["id"]]):
            fail(f"annotation {ann['id']}: exact polygons decode to a different mask")
    expected = manifest["poly_rasterised"]
    for ann in simple.dataset["annotations"]:
        h, w = truth[ann["id"]].shape
        ours = mask_utils.decode({"size": [h, w], "counts": expected[str(ann["id"])].encode()})
        if not np.array_equal(simple.annToMask(ann), ours):
            fail(f"annotation {ann['id']}: pycocotools rasterises the simplified polygons differently")
        rle = simple.annToRLE(ann)
        if int(mask_utils.area(rle)) != int(ann["area"]):
            fail(f"annotation {ann['id']}: polygon area {ann['area']} != {mask_utils.area(rle)}")

    images = {img["id"]: img for img in coco.dataset["images"]}
    anns_by_image = {}
    for ann in coco.dataset["annotations"]:
        anns_by_image.setdefault(ann["image_id"], []).append(ann)
    cat_index = {c["id"]: i + 1 for i, c in enumerate(coco.dataset["categories"])}
    n_checked = 0

    # PNG
    p = os.path.join(d, "png")
    legend = json.load(open(os.path.join(p, "instances.json")))
    labels = json.load(open(os.path.join(p, "labels.json")))
    for img_id, img in images.items():
        stem = os.path.splitext(img["file_name"])[0]
        h, w = img["height"], img["width"]
        anns = anns_by_image.get(img_id, [])
        for ann in anns:
            im = Image.open(os.path.join(p, "masks", f"{stem}_{ann['id']}.png"))
            if im.mode != "L" or not np.array_equal(np.array(im), truth[ann["id"]] * 255):
                fail(f"png mask {stem}_{ann['id']}: mode {im.mode} or values differ")
            n_checked += 1
        im = Image.open(os.path.join(p, "instances", f"{stem}.png"))
        want_mode = "L" if len(anns) <= 255 else "I;16"
        if im.mode != want_mode:
            fail(f"png instance map {stem}: mode {im.mode}, expected {want_mode}")
        values = [(truth[e["id"]], e["value"]) for e in legend[stem]]
        inst_map = paint((h, w), values, np.uint16)
        if not np.array_equal(np.array(im).astype(np.uint16), inst_map):
            fail(f"png instance map {stem}: values differ")
        im = Image.open(os.path.join(p, "semantic", f"{stem}.png"))
        sem = paint((h, w), [(truth[a["id"]], cat_index[a["category_id"]]) for a in anns], np.uint8)
        if im.mode != "P" or not np.array_equal(np.array(im), sem):
            fail(f"png semantic map {stem}: mode {im.mode} or values differ")
        pal = im.getpalette()
        for lab in labels:
            v = lab["value"]
            if pal[3 * v:3 * v + 3] != lab["color"]:
                fail(f"png semantic palette entry {v} {pal[3*v:3*v+3]} != legend {lab['color']}")
        src = np.array(Image.open(os.path.join(d, "images", img["file_name"])).convert("RGB"))
        for ann in anns:
            m = truth[ann["id"]]
            ys, xs = np.nonzero(m)
            if len(xs) == 0:
                continue
            crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
            im = Image.open(os.path.join(p, "cutouts", f"{stem}_{ann['id']}.png"))
            a = np.array(im)
            if im.mode != "RGBA" or a.shape[:2] != m[crop].shape:
                fail(f"cutout {stem}_{ann['id']}: mode {im.mode} shape {a.shape}")
                continue
            if not np.array_equal(a[..., 3], m[crop] * 255):
                fail(f"cutout {stem}_{ann['id']}: alpha differs from the mask")
            inside = m[crop].astype(bool)
            if not np.array_equal(a[..., :3][inside], src[crop][inside]):
                fail(f"cutout {stem}_{ann['id']}: colours differ from the source image")

    # NumPy
    p = os.path.join(d, "npy")
    for img_id, img in images.items():
        stem = os.path.splitext(img["file_name"])[0]
        h, w = img["height"], img["width"]
        anns = anns_by_image.get(img_id, [])
        for ann in anns:
            a = np.load(os.path.join(p, "masks", f"{stem}_{ann['id']}.npy"))
            if a.dtype != np.bool_ or a.shape != (h, w) or not np.array_equal(a, truth[ann["id"]].astype(bool)):
                fail(f"npy mask {stem}_{ann['id']}: dtype {a.dtype} shape {a.shape} or values differ")
        a = np.load(os.path.join(p, "instances", f"{stem}.npy"))
        inst_map = paint((h, w), [(truth[x["id"]], k + 1) for k, x in enumerate(anns)], np.uint16)
        if a.dtype != np.uint16 or not np.array_equal(a, inst_map):
            fail(f"npy instance map {stem}: dtype {a.dtype} or values differ")
        z = np.load(os.path.join(p, f"{stem}.npz"))
        ms, cl = z["masks"], z["class_ids"]
        if ms.dtype != np.bool_ or ms.shape != (len(anns), h, w):
            fail(f"npz {stem}: masks dtype {ms.dtype} shape {ms.shape}")
        elif not all(np.array_equal(ms[k], truth[x["id"]].astype(bool)) for k, x in enumerate(anns)):
            fail(f"npz {stem}: mask values differ")
        if cl.dtype != np.int64 or list(cl) != [x["category_id"] for x in anns]:
            fail(f"npz {stem}: class_ids {cl.dtype} {list(cl)}")

    # Pascal VOC
    p = os.path.join(d, "voc")
    for img_id, img in images.items():
        stem = os.path.splitext(img["file_name"])[0]
        h, w = img["height"], img["width"]
        anns = anns_by_image.get(img_id, [])
        if len(anns) > 254:
            continue
        im = Image.open(os.path.join(p, "SegmentationClass", f"{stem}.png"))
        sem = paint((h, w), [(truth[a["id"]], cat_index[a["category_id"]]) for a in anns], np.uint8)
        if im.mode != "P" or not np.array_equal(np.array(im), sem):
            fail(f"voc class {stem}: mode {im.mode} or values differ")
        if im.getpalette()[3:6] != [128, 0, 0]:
            fail(f"voc class {stem}: not the VOC colormap")
        im = Image.open(os.path.join(p, "SegmentationObject", f"{stem}.png"))
        obj = paint((h, w), [(truth[x["id"]], k + 1) for k, x in enumerate(anns)], np.uint8)
        if im.mode != "P" or not np.array_equal(np.array(im), obj):
            fail(f"voc object {stem}: mode {im.mode} or values differ")

    # YOLO (exported at tolerance 0): the union of each image's lines is the union of its masks.
    p = os.path.join(d, "yolo")
    names = open(os.path.join(p, "classes.txt")).read().split("\n")[:-1]
    if names != [c["name"] for c in coco.dataset["categories"]]:
        fail(f"yolo classes.txt {names}")
    for img_id, img in images.items():
        stem = os.path.splitext(img["file_name"])[0]
        h, w = img["height"], img["width"]
        union = np.zeros((h, w), np.uint8)
        for ann in anns_by_image.get(img_id, []):
            union |= truth[ann["id"]]
        got = np.zeros((h, w), np.uint8)
        for line in open(os.path.join(p, "labels", f"{stem}.txt")):
            vals = line.split()
            cls, xy = int(vals[0]), np.array([float(v) for v in vals[1:]])
            if not (0 <= cls < len(names)) or len(xy) < 6 or xy.min() < 0 or xy.max() > 1:
                fail(f"yolo {stem}: bad line {line[:60]}")
                continue
            xy[0::2] *= w
            xy[1::2] *= h
            got |= mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([list(xy)], h, w)))
        if not np.array_equal(got, union):
            fail(f"yolo {stem}: polygons cover {int(got.sum())} px, masks {int(union.sum())}")

    # A dataset authored by pycocotools, for samkit to import and re-export losslessly.
    authored = {"images": coco.dataset["images"], "categories": coco.dataset["categories"],
                "annotations": []}
    next_id = 1
    for ann in coco.dataset["annotations"]:
        m = truth[ann["id"]]
        h, w = m.shape
        rle = mask_utils.encode(np.asfortranarray(m))
        kind = next_id % 3
        base = {"id": next_id, "image_id": ann["image_id"], "category_id": ann["category_id"],
                "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "expected_counts": rle["counts"].decode()}
        if kind == 0:
            base.update(iscrowd=0, segmentation={"size": [h, w], "counts": rle["counts"].decode()})
        elif kind == 1:
            # uncompressed, crowd (the COCO convention for crowds)
            flat = m.flatten(order="F")
            counts, cur, run = [], 0, 0
            for v in flat:
                if v != cur:
                    counts.append(run)
                    cur, run = v, 0
                run += 1
            counts.append(run)
            base.update(iscrowd=1, segmentation={"size": [h, w], "counts": [int(c) for c in counts]})
            base["expected_uncompressed"] = [int(c) for c in counts]
        else:
            ys, xs = np.nonzero(m)
            if len(xs) == 0:
                continue
            poly = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.min()),
                    float(xs.max() + 1), float(ys.max() + 1), float(xs.min()), float(ys.max() + 1)]
            prle = mask_utils.merge(mask_utils.frPyObjects([poly], h, w))
            base.update(iscrowd=0, segmentation=[poly], area=float(mask_utils.area(prle)),
                        bbox=[float(v) for v in mask_utils.toBbox(prle)],
                        expected_counts=prle["counts"].decode())
        authored["annotations"].append(base)
        next_id += 1
    json.dump(authored, open(os.path.join(d, "py_authored.json"), "w"))

    print(json.dumps({"segm_ap": ap, "png_masks_checked": n_checked,
                      "annotations": len(truth), "failures": len(FAILURES)}))


def main():
    if sys.argv[1] == "rle":
        cmd_rle(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "exports":
        cmd_exports(sys.argv[2])
    else:
        print("unknown command", sys.argv[1])
        sys.exit(2)
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
