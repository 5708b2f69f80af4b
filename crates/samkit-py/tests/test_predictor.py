"""samkit.Predictor against `samkit segment` on the same prompts: masks identical, scores
within 1e-6; and bad arguments as clear exceptions."""

import json

import numpy as np
import pytest
from PIL import Image

import samkit
from conftest import run_cli

PROMPTS = [
    {"points": [(225, 150, 1)]},
    {"points": [(225, 150, 1), (100, 60, 0)]},
    {"box": (150, 40, 330, 290)},
    {"box": (150, 40, 330, 290), "points": [(250, 180, 1)]},
]


def cli_candidates(samkit_bin, image_path, prompt, tmp_path):
    args = [image_path, "--candidates", "--all-out", tmp_path / "all", "--json",
            "--out", tmp_path / "mask.png"]
    for x, y, label in prompt.get("points", []):
        args += ["--point" if label == 1 else "--neg", f"{x},{y}"]
    if "box" in prompt:
        args += ["--box", ",".join(map(str, prompt["box"]))]
    report = json.loads(run_cli(samkit_bin, "segment", *args))
    masks = {}
    for c in report["candidates"]:
        masks[c["token"]] = (np.array(Image.open(c["file"])) > 0, c["predicted_iou"])
    return report, masks


@pytest.mark.parametrize("prompt", PROMPTS)
def test_predictor_equals_samkit_segment(model, samkit_bin, chelsea, prompt, tmp_path):
    path, image = chelsea
    p = samkit.Predictor(model)
    p.set_image(image)
    kwargs = {}
    if "points" in prompt:
        kwargs["point_coords"] = [(x, y) for x, y, _ in prompt["points"]]
        kwargs["point_labels"] = [label for _, _, label in prompt["points"]]
    if "box" in prompt:
        kwargs["box"] = np.array(prompt["box"])
    report, cli = cli_candidates(samkit_bin, path, prompt, tmp_path)
    assert report["model"] == model.id

    multi, multi_scores, low = p.predict(multimask_output=True, **kwargs)
    single, single_scores, _ = p.predict(multimask_output=False, **kwargs)
    assert multi.shape == (3, image.shape[0], image.shape[1]) and multi.dtype == np.bool_
    assert single.shape == (1, image.shape[0], image.shape[1])
    assert low.shape == (3, 256, 256) and low.dtype == np.float32
    assert multi_scores.dtype == np.float32
    for token in range(4):
        mask, score = (single[0], single_scores[0]) if token == 0 else (
            multi[token - 1], multi_scores[token - 1])
        want, want_score = cli[token]
        assert np.array_equal(mask, want), f"token {token}: {np.sum(mask != want)} pixels differ"
        assert abs(float(score) - want_score) <= 1e-6, (token, score, want_score)


def test_refinement_with_low_res_logits_and_logits_output(model, chelsea):
    _, image = chelsea
    p = samkit.Predictor(model)
    p.set_image(image)
    masks, scores, low = p.predict(point_coords=[[225, 150]], point_labels=[1])
    best = int(np.argmax(scores))
    refined, _, _ = p.predict(point_coords=[[225, 150], [100, 60]], point_labels=[1, 0],
                              mask_input=low[best][None, :, :], multimask_output=False)
    logits, _, _ = p.predict(point_coords=[[225, 150], [100, 60]], point_labels=[1, 0],
                             mask_input=low[best][None, :, :], multimask_output=False,
                             return_logits=True)
    assert logits.dtype == np.float32
    assert np.array_equal(refined, logits > 0)
    assert not refined[0, 60, 100], "the negative click's pixel stays outside"


def test_images_as_bgr_paths_and_strided_arrays_give_the_same_masks(model, coffee):
    path, image = coffee
    click = dict(point_coords=[[300, 200]], point_labels=[1])
    p = samkit.Predictor(model)
    p.set_image(image)
    want = p.predict(**click)[0]
    p.set_image(str(path))
    assert np.array_equal(p.predict(**click)[0], want)
    p.set_image(np.ascontiguousarray(image[:, :, ::-1]), image_format="BGR")
    assert np.array_equal(p.predict(**click)[0], want)
    strided = np.zeros((image.shape[0], image.shape[1] * 2, 3), np.uint8)
    strided[:, ::2] = image
    p.set_image(strided[:, ::2])
    assert np.array_equal(p.predict(**click)[0], want)
    assert p.original_size == image.shape[:2]


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((40, 40, 3), np.float32), "uint8"),
        (np.zeros((40, 40), np.uint8), "HxWx3"),
        (np.zeros((40, 40, 4), np.uint8), "HxWx3"),
        (np.zeros((0, 0, 3), np.uint8), "zero size"),
        (np.zeros((1, 3000, 3), np.uint8), "2048"),
        ([[1, 2, 3]], "numpy array or a path"),
    ],
)
def test_bad_images_are_value_errors(model, image, message):
    p = samkit.Predictor(model)
    with pytest.raises(ValueError, match=message):
        p.set_image(image)


def test_bad_prompts_and_paths(model, chelsea, tmp_path):
    _, image = chelsea
    p = samkit.Predictor(model)
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict(point_coords=[[1, 1]], point_labels=[1])
    with pytest.raises(FileNotFoundError):
        p.set_image(tmp_path / "missing.png")
    p.set_image(image)
    with pytest.raises(ValueError, match="label 2"):
        p.predict(point_coords=[[10, 10]], point_labels=[2])
    with pytest.raises(ValueError, match="outside"):
        p.predict(point_coords=[[1000, 10]], point_labels=[1])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        p.predict(point_coords=[[10, 10, 3]], point_labels=[1])
    with pytest.raises(ValueError, match="point_labels must be supplied"):
        p.predict(point_coords=[[10, 10]])
    with pytest.raises(ValueError, match="256"):
        p.predict(point_coords=[[10, 10]], point_labels=[1], mask_input=np.zeros((1, 64, 64)))
    with pytest.raises(ValueError, match="no prompt"):
        p.predict()
    with pytest.raises(ValueError, match="integers"):
        p.predict(point_coords=[[10, 10]], point_labels=[0.5])


def test_unaligned_arrays_are_taken(model, chelsea):
    """As an array unpickled from a buffer can be (Dask does this): no panic."""
    _, image = chelsea
    p = samkit.Predictor(model)
    p.set_image(image)
    raw = np.zeros(2 * 4 + 1, np.uint8)
    coords = raw[1:].view(np.float32).reshape(1, 2)
    coords[:] = [[225, 150]]
    assert not coords.flags.aligned
    want = p.predict(point_coords=[[225, 150]], point_labels=[1])[0]
    assert np.array_equal(p.predict(point_coords=coords, point_labels=[1])[0], want)
