"""Writes the DICOM, NIfTI and TIFF-stack files the volume reader is checked against,
with pydicom's, nibabel's and tifffile's reading of them (reference.json).
Usage: make_volumes.py OUT_DIR"""

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import tifffile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
ref = {}


def dataset(rows, cols, photometric="MONOCHROME2", samples=1, bits=16, signed=False,
            syntax=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if samples == 3:
        ds.PlanarConfiguration = 0
    return ds


def save(ds, name, pixels=None):
    if pixels is not None:
        ds.PixelData = pixels.tobytes()
    ds.save_as(out / name, enforce_file_format=True)


def windowed_8bit(ds, modality):
    """pydicom's linear windowing, its output range mapped onto 0-255."""
    lo, hi = apply_voi_lut(np.array([-1e9, 1e9]), ds, prefer_lut=False)
    y = apply_voi_lut(modality.astype(np.float64), ds, prefer_lut=False)
    return np.clip(np.rint((y - lo) / (hi - lo) * 255), 0, 255).astype(int)


# A CT slice: signed 12-bit, rescaled to Hounsfield units, soft-tissue window.
yy, xx = np.mgrid[:48, :64]
stored = (xx * 30 - 900 + 800 * (np.hypot(yy - 24, xx - 32) < 10)).astype(np.int16)
ct = dataset(48, 64, signed=True)
ct.RescaleSlope, ct.RescaleIntercept = 1.5, -1024
ct.WindowCenter, ct.WindowWidth = 40, 400
save(ct, "ct.dcm", stored)
ct = pydicom.dcmread(out / "ct.dcm")
hu = apply_modality_lut(ct.pixel_array, ct)
ref["ct"] = {"shape": list(hu.shape), "values": hu.ravel().tolist(),
             "window": [40, 400], "grey": windowed_8bit(ct, hu).ravel().tolist()}

# MONOCHROME1 (high values dark), unsigned, no window in the file.
mono1 = dataset(16, 20, photometric="MONOCHROME1")
save(mono1, "mono1.dcm", (np.arange(320).reshape(16, 20) * 12).astype(np.uint16))
mono1 = pydicom.dcmread(out / "mono1.dcm")
ref["mono1"] = {"values": mono1.pixel_array.astype(float).ravel().tolist()}

# Three frames.
multi = dataset(8, 10)
multi.NumberOfFrames = 3
frames = (np.arange(240).reshape(3, 8, 10) * 7).astype(np.uint16)
save(multi, "multi.dcm", frames)
multi = pydicom.dcmread(out / "multi.dcm")
ref["multi"] = {"shape": list(multi.pixel_array.shape),
                "values": multi.pixel_array.astype(float).ravel().tolist()}

# 8-bit RGB.
rgb = dataset(6, 5, photometric="RGB", samples=3, bits=8)
save(rgb, "rgb.dcm", (np.arange(90).reshape(6, 5, 3) * 2).astype(np.uint8))
rgb = pydicom.dcmread(out / "rgb.dcm")
ref["rgb"] = {"values": rgb.pixel_array.astype(float).ravel().tolist()}

# No pixel data; a compressed transfer syntax (JPEG 2000) we do not decode.
save(dataset(4, 4), "no-pixels.dcm")
j2k = dataset(4, 4, syntax=JPEG2000Lossless)
j2k.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 60])
j2k["PixelData"].VR = "OB"
save(j2k, "jpeg2000.dcm")

# A series of 4 slices in a folder: file names and Instance Numbers out of order, the
# position along the slice normal (z here) is what orders them.
series_uid = generate_uid()
(out / "series").mkdir()
slices = []
for z, (name, instance) in zip([3.0, 0.0, 2.0, 1.0], [("a", 1), ("b", 4), ("c", 2), ("d", 3)]):
    ds = dataset(6, 7)
    ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [0.0, 0.0, z * 2.5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    pixels = (np.arange(42).reshape(6, 7) + 100 * int(z)).astype(np.uint16)
    save(ds, f"series/{name}.dcm", pixels)
    slices.append((z, pixels))
ref["series"] = {"values": np.stack([p for _, p in sorted(slices, key=lambda s: s[0])])
                 .astype(float).ravel().tolist()}
# An oblique series with its patient geometry (orientation, positions, pixel spacing):
# the label volume's affine must be the one NIfTI converters derive. nibabel's DICOM
# wrapper gives the first slice's in-plane voxel (row, column) -> LPS affine; the slice
# axis is the step between the slices' positions, in the reader's order (along row x
# column); the NIfTI axes are (column, row, slice) in RAS.
(out / "oblique").mkdir()
row_dir = np.array([np.cos(0.5), np.sin(0.5), 0.0])
col_dir = np.array([0.0, 0.0, -1.0])
normal = np.cross(row_dir, col_dir)
origin = np.array([-30.0, 12.5, 40.0])
for k, name in zip([2, 0, 1], ["x", "y", "z"]):
    ds = dataset(5, 6)
    ds.SeriesInstanceUID = generate_uid()
    ds.InstanceNumber = k + 1
    ds.ImageOrientationPatient = [*row_dir.tolist(), *col_dir.tolist()]
    ds.ImagePositionPatient = (origin + k * 3.0 * normal).tolist()
    ds.PixelSpacing = [0.7, 0.9]
    ds.SliceThickness = 3.0
    ds.SpacingBetweenSlices = 3.0
    save(ds, f"oblique/{name}.dcm", np.zeros((5, 6), np.uint16))
from nibabel.nicom import dicomwrappers  # noqa: E402
import warnings  # noqa: E402
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    files = [pydicom.dcmread(out / f"oblique/{n}.dcm") for n in "xyz"]
    along = [np.dot(np.array(f.ImagePositionPatient, float), normal) for f in files]
    files = [f for _, f in sorted(zip(along, files), key=lambda p: p[0])]
    lps = dicomwrappers.wrapper_from_data(files[0]).affine.copy()
    lps[:3, 2] = (np.array(files[-1].ImagePositionPatient, float)
                  - np.array(files[0].ImagePositionPatient, float)) / (len(files) - 1)
swap = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
ref["oblique_affine"] = (np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps @ swap).tolist()

# Two sizes in one folder.
(out / "mixed").mkdir()
for name, (r, c) in [("a", (6, 7)), ("b", (8, 8))]:
    ds = dataset(r, c)
    ds.SeriesInstanceUID = series_uid
    save(ds, f"mixed/{name}.dcm", np.zeros((r, c), np.uint16))

# NIfTI: int16 voxels scaled by scl_slope/scl_inter; a 4-D file; a broken header.
voxels = (np.arange(20 * 16 * 5).reshape(20, 16, 5) % 97).astype(np.int16)
img = nib.Nifti1Image(voxels, np.diag([0.8, 0.8, 2.5, 1]))
img.header.set_slope_inter(2.0, 10.0)
nib.save(img, out / "volume.nii.gz")
data = nib.load(out / "volume.nii.gz").get_fdata()
ref["nifti"] = {"shape": list(data.shape),
                # slice-major, then row (j), then column (i): data[i, j, k] at [k][j][i]
                "values": data.transpose(2, 1, 0).ravel().tolist()}
four = np.stack([voxels.astype(np.float32), voxels.astype(np.float32) + 1000], axis=-1)
nib.save(nib.Nifti1Image(four, np.eye(4)), out / "four-d.nii")
ref["four_d"] = {"values": nib.load(out / "four-d.nii").get_fdata()[..., 0]
                 .transpose(2, 1, 0).ravel().tolist()}
(out / "broken.nii").write_bytes((out / "four-d.nii").read_bytes()[:200])

# A sphere (radius 18 voxels, value 300 on 0) in a 96 × 80 × 9 volume, centre (48, 40, 4).
i, j, k = np.mgrid[:96, :80, :9]
sphere = 300.0 * (np.hypot(np.hypot(i - 48, j - 40), (k - 4) * 4) < 18)
nib.save(nib.Nifti1Image(sphere.astype(np.float32), np.eye(4)), out / "sphere.nii.gz")

# TIFF stacks: 16-bit grey microscopy-like pages (deflate-compressed), 8-bit RGB pages,
# float32 pages; a one-page 16-bit TIFF (an image, not a stack); pages of two sizes.
yy, xx = np.mgrid[:40, :50]
stack16 = np.stack([(300 + 30 * xx + 20 * yy + 700 * z).astype(np.uint16) for z in range(3)])
stack16[1, 4, 5] = 65535  # one hot pixel: the percentile window ignores it
tifffile.imwrite(out / "stack16.tif", stack16, photometric="minisblack", compression="zlib")
rgb_stack = (np.arange(2 * 6 * 7 * 3).reshape(2, 6, 7, 3) % 256).astype(np.uint8)
tifffile.imwrite(out / "rgb-stack.tiff", rgb_stack, photometric="rgb")
float_stack = (np.arange(4 * 5 * 6).reshape(4, 5, 6) / 7.0 - 3.0).astype(np.float32)
tifffile.imwrite(out / "float-stack.tif", float_stack, photometric="minisblack")
tifffile.imwrite(out / "one-page16.tif", stack16[0], photometric="minisblack")
with tifffile.TiffWriter(out / "two-sizes.tif") as w:
    w.write(np.zeros((6, 7), np.uint16), photometric="minisblack")
    w.write(np.zeros((8, 8), np.uint16), photometric="minisblack")
for name in ["stack16.tif", "rgb-stack.tiff", "float-stack.tif"]:
    data = tifffile.imread(out / name)
    ref[name] = {"shape": list(data.shape), "values": data.astype(float).ravel().tolist()}

(out / "reference.json").write_text(json.dumps(ref))
