"""samkit.export against `samkit export`, samkit.convert against `samkit convert`: the
same files, read back by pycocotools and numpy; bad arguments get clear exceptions."""

import filecmp
import json
import shutil

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from PIL import Image

import samkit
from conftest import SAMPLES, run_cli


def _ring(h, w):
    """A disc with a hole: the holes must survive every format."""
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 3)
    return (r < h / 4) & (r > h / 10)


def _box(h, w):
    m = np.zeros((h, w), bool)
    m[h // 5 : h // 2, w // 2 : w - 7] = True
    return m


@pytest.fixture()
def annotated(samkit_bin, tmp_path):
    """A project of two photos with three instances imported from a COCO file."""
    project = tmp_path / "project"
    project.mkdir()
    images, annotations, masks = [], [], {}
    for image_id, name in enumerate(["chelsea.png", "coffee.png"], start=1):
        shutil.copy(SAMPLES / name, project)
        w, h = Image.open(SAMPLES / name).size
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for category_id, make in ((1, _ring), (2, _box)):
            if image_id == 2 and category_id == 2:
                continue
            mask = make(h, w)
            rle = samkit.rle.encode(mask)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": category_id, "segmentation": rle,
                "area": int(mask.sum()), "bbox": list(mask_utils.toBbox(rle)),
                "iscrowd": 0,
            })
            masks[(name, category_id)] = mask
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "ring"}, {"id": 2, "name": "box"}]}
    coco_path = tmp_path / "in.json"
    coco_path.write_text(json.dumps(coco))
    run_cli(samkit_bin, "import", project, coco_path)
    return project, coco_path, masks


def test_coco_export_equals_the_cli_and_pycocotools_reads_the_masks(
        annotated, samkit_bin, tmp_path):
    from pycocotools.coco import COCO

    project, _, masks = annotated
    report = samkit.export(project, tmp_path / "py.json")
    assert report["format"] == "coco"
    assert (report["images"], report["instances"]) == (2, 3)
    assert str(report["out"]) == str(tmp_path / "py.json")
    run_cli(samkit_bin, "export", project, "--to", "coco", "--out", tmp_path / "cli.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()

    coco = COCO(str(tmp_path / "py.json"))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    seen = 0
    for ann in coco.loadAnns(coco.getAnnIds()):
        file_name = coco.loadImgs(ann["image_id"])[0]["file_name"]
        want = masks[(file_name, {"ring": 1, "box": 2}[names[ann["category_id"]]])]
        assert np.array_equal(coco.annToMask(ann).astype(bool), want)
        seen += 1
    assert seen == 3


@pytest.mark.parametrize("to", ["npy", "yolo", "voc", "png", "coco-polygons"])
def test_folder_exports_equal_the_cli(annotated, samkit_bin, tmp_path, to):
    project = annotated[0]
    suffix = ".json" if to == "coco-polygons" else ""
    py_out, cli_out = tmp_path / f"py{suffix}", tmp_path / f"cli{suffix}"
    report = samkit.export(project, py_out, to=to)
    assert report["instances"] == 3
    run_cli(samkit_bin, "export", project, "--to", to, "--out", cli_out)
    if suffix:
        assert py_out.read_bytes() == cli_out.read_bytes()
        return
    py_files = sorted(p.relative_to(py_out) for p in py_out.rglob("*") if p.is_file())
    cli_files = sorted(p.relative_to(cli_out) for p in cli_out.rglob("*") if p.is_file())
    assert py_files == cli_files and py_files
    for rel in py_files:
        assert filecmp.cmp(py_out / rel, cli_out / rel, shallow=False), rel


def test_npy_export_holds_the_masks(annotated, tmp_path):
    project, _, masks = annotated
    samkit.export(project, tmp_path / "npy", to="npy")
    arrays = sorted((tmp_path / "npy").rglob("*.np[yz]"))
    assert arrays, "the export wrote no NumPy file"
    ring = masks[("chelsea.png", 1)]
    found = False
    for path in arrays:
        data = np.load(path, allow_pickle=False)
        stacks = [data[k] for k in data.files] if hasattr(data, "files") else [data]
        for stack in stacks:
            for layer in np.atleast_3d(stack).reshape(-1, *stack.shape[-2:]):
                if layer.shape == ring.shape and np.array_equal(layer.astype(bool), ring):
                    found = True
    assert found, f"no array in {arrays} equals the ring mask"


def test_status_filter_and_bad_arguments(annotated, tmp_path):
    project = annotated[0]
    assert samkit.export(project, tmp_path / "done.json", status="done")["images"] == 0
    assert samkit.export(project, tmp_path / "todo.json", status="todo")["images"] == 2
    with pytest.raises(ValueError, match="unknown status \"finished\".*needs_review"):
        samkit.export(project, tmp_path / "x.json", status="finished")
    with pytest.raises(ValueError, match="unknown export format"):
        samkit.export(project, tmp_path / "x.json", to="parquet")
    with pytest.raises(FileNotFoundError, match="no-such-project"):
        samkit.export(tmp_path / "no-such-project", tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_convert_equals_the_cli(annotated, samkit_bin, tmp_path):
    project, coco_path, _ = annotated
    report = samkit.convert(coco_path, tmp_path / "py", to="yolo")
    assert (report["images"], report["instances"], report["skipped"]) == (2, 3, [])
    run_cli(samkit_bin, "convert", coco_path, "--to", "yolo", "--out", tmp_path / "cli")
    files = sorted(p.relative_to(tmp_path / "py") for p in (tmp_path / "py").rglob("*")
                   if p.is_file())
    assert files
    for rel in files:
        assert filecmp.cmp(tmp_path / "py" / rel, tmp_path / "cli" / rel, shallow=False)

    samkit.convert(tmp_path / "py", tmp_path / "back.json", to="coco", images=project)
    run_cli(samkit_bin, "convert", tmp_path / "py", "--to", "coco", "--out",
            tmp_path / "back-cli.json", "--images", project)
    assert (tmp_path / "back.json").read_bytes() == (tmp_path / "back-cli.json").read_bytes()


def test_convert_reports_invalid_annotations(annotated, tmp_path):
    coco_path = annotated[1]
    doc = json.loads(coco_path.read_text())
    doc["annotations"][0]["category_id"] = 99
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="99"):
        samkit.convert(bad, tmp_path / "out.json", to="coco")
    report = samkit.convert(bad, tmp_path / "out.json", to="coco", skip_invalid=True)
    assert report["instances"] == 2 and len(report["skipped"]) == 1
    assert "99" in report["skipped"][0]
    with pytest.raises(FileNotFoundError):
        samkit.convert(tmp_path / "missing.json", tmp_path / "o.json", to="coco")
    with pytest.raises(ValueError, match="mask_format"):
        samkit.convert(bad, tmp_path / "o.json", to="coco", mask_format="bitmap")
