#!/usr/bin/env python3
"""GrabCut as small objects in large images: each object in a 3 x 3 mosaic of GrabCut photos.

Zoom-in refinement (issue 14) is meant for objects that the model's 1024-px view of the whole
image shows with too few pixels. GrabCut's photos are at most 640 px wide, so SAM sees them
enlarged and a crop adds nothing. This builds the case zoom-in is for from the same objects:
image i is placed in cell (i mod 9) of a 3 x 3 grid of 640 x 600 cells (about 1920 x 1800 px,
so the whole-image view shrinks it about 1.9x), the other cells hold the next 8 photos as
distractors (their objects count as background), and the mask and ignore band are image i's,
moved into place. Pixels are copied, never resampled, so the object has exactly its original
pixels.

    python3 bench/grabcut_mosaic.py ../shared/data/grabcut /tmp/grabcut-mosaic
    samkit eval --images /tmp/grabcut-mosaic/images --masks /tmp/grabcut-mosaic/masks \
        --ignore /tmp/grabcut-mosaic/ignore --variant prev [--zoom-in]
"""

import sys
from pathlib import Path

from PIL import Image

CELL_W, CELL_H, GRID = 640, 600, 3
FILL = (128, 128, 128)


def main(src: Path, out: Path) -> None:
    names = sorted(p.stem for p in (src / "images").glob("*.png"))
    if not names:
        sys.exit(f"no PNG images in {src / 'images'}")
    for sub in ("images", "masks", "ignore"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        canvas = Image.new("RGB", (CELL_W * GRID, CELL_H * GRID), FILL)
        mask = Image.new("L", canvas.size, 0)
        ignore = Image.new("L", canvas.size, 0)
        target_cell = i % (GRID * GRID)
        for cell in range(GRID * GRID):
            j = (i + (cell - target_cell)) % len(names)
            photo = Image.open(src / "images" / f"{names[j]}.png").convert("RGB")
            if photo.width > CELL_W or photo.height > CELL_H:
                sys.exit(f"{names[j]} is {photo.size}, larger than a {CELL_W}x{CELL_H} cell")
            x = (cell % GRID) * CELL_W + (CELL_W - photo.width) // 2
            y = (cell // GRID) * CELL_H + (CELL_H - photo.height) // 2
            canvas.paste(photo, (x, y))
            if cell == target_cell:
                mask.paste(Image.open(src / "masks" / f"{name}.png").convert("L"), (x, y))
                band = src / "ignore" / f"{name}.png"
                if band.exists():
                    ignore.paste(Image.open(band).convert("L"), (x, y))
        canvas.save(out / "images" / f"{name}.png")
        mask.save(out / "masks" / f"{name}.png")
        ignore.save(out / "ignore" / f"{name}.png")
    print(f"{len(names)} mosaics of {canvas.size[0]}x{canvas.size[1]} in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
