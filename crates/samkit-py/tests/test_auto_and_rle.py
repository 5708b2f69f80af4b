"""AutomaticMaskGenerator against `samkit auto`, masks_from_boxes against the predictor's
box prompt, and RLE against pycocotools."""

import json

import numpy as np
import pycocotools.mask as mask_utils
import pytest

import samkit
from conftest import run_cli


def test_generator_equals_samkit_auto(model, samkit_bin, chelsea, tmp_path):
    path, image = chelsea
    run_cli(samkit_bin, "auto", path, "--out", tmp_path / "out", "--format", "sam-json",
            "--points-per-side", "8")
    want = json.loads((tmp_path / "out" / "chelsea.json").read_text())
    got = samkit.AutomaticMaskGenerator(model, points_per_side=8,
                                        output_mode="coco_rle").generate(image)
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        assert set(g) == set(w)
        assert g["segmentation"] == w["segmentation"]
        for key in ("area", "bbox", "crop_box"):
            assert g[key] == w[key], key
        for key in ("predicted_iou", "stability_score"):
            assert abs(g[key] - w[key]) <= 1e-6, key
        assert np.allclose(g["point_coords"], w["point_coords"])
        assert isinstance(g["area"], int) and isinstance(g["bbox"][0], int)

    binary = samkit.AutomaticMaskGenerator(model, points_per_side=8).generate(path)
    assert len(binary) == len(got)
    for b, g in zip(binary, got):
        seg = b["segmentation"]
        assert seg.dtype == np.bool_ and seg.shape == image.shape[:2]
        assert np.array_equal(seg, mask_utils.decode(g["segmentation"]).astype(bool))
        assert int(seg.sum()) == b["area"]


def test_generator_parameters_are_checked(model, chelsea):
    _, image = chelsea
    with pytest.raises(ValueError, match="Exactly one"):
        samkit.AutomaticMaskGenerator(model, points_per_side=None)
    with pytest.raises(ValueError, match="points per batch"):
        samkit.AutomaticMaskGenerator(model, points_per_side=4, points_per_batch=0).generate(image)
    grid = samkit.AutomaticMaskGenerator(
        model, points_per_side=None, point_grids=[np.array([[0.5, 0.5]])]).generate(image)
    assert all(r["point_coords"] == [[225.5, 150.0]] for r in grid)


def test_masks_from_boxes_equals_the_predictors_box_prompt(model, coffee):
    path, image = coffee
    boxes = np.array([[150, 40, 450, 380], [20, 20, 200, 200]], np.float32)
    masks, scores = samkit.masks_from_boxes(model, image, boxes)
    assert masks.shape == (2, image.shape[0], image.shape[1]) and scores.shape == (2,)
    p = samkit.Predictor(model)
    p.set_image(image)
    for i, b in enumerate(boxes):
        m, s, _ = p.predict(box=b, multimask_output=False)
        assert np.array_equal(m[0], masks[i])
        assert abs(float(s[0]) - float(scores[i])) <= 1e-6
    with pytest.raises(ValueError, match="outside"):
        samkit.masks_from_boxes(model, image, [[0, 0, 10_000, 10]])
    with pytest.raises(ValueError, match="empty"):
        samkit.masks_from_boxes(model, image, [[50, 50, 50, 80]])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        samkit.masks_from_boxes(model, image, [[1, 2, 3]])


def test_rle_round_trips_with_pycocotools():
    rng = np.random.default_rng(7)
    mask = rng.random((37, 53)) > 0.6
    ours = samkit.rle.encode(mask)
    assert ours["size"] == [37, 53]
    assert np.array_equal(mask_utils.decode(ours).astype(bool), mask)
    theirs = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ours["counts"].encode() == theirs["counts"]
    assert np.array_equal(samkit.rle.decode(theirs), mask)
    assert samkit.rle.area(theirs) == int(mask_utils.area(theirs))
    uncompressed = {"size": [2, 2], "counts": [1, 2, 1]}
    assert samkit.rle.decode(uncompressed).tolist() == [[False, True], [True, False]]
    with pytest.raises(ValueError, match="size"):
        samkit.rle.decode({"counts": "0"})
    # 3.6 gigapixels declared: refused before anything is allocated.
    with pytest.raises(ValueError, match="budget"):
        samkit.rle.decode({"size": [60000, 60000], "counts": [1_800_000_000, 1_800_000_000]})
    with pytest.raises(ValueError, match="0/1"):
        samkit.rle.encode(np.full((2, 2), 3))
