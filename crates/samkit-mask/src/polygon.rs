//! Polygons: mask → contours (outer rings and holes, every part) → optional
//! Douglas–Peucker simplification (`geo`) → rasterisation back with COCO `frPoly`.
//!
//! Contours follow pixel *edges* (crack following), not pixel centres. `imageproc`'s
//! `find_contours` (Suzuki–Abe, as OpenCV) returns the centres of border pixels; a
//! polygon through them loses a half-pixel band when rasterised (about 1–2 % IoU on
//! GrabCut-size objects), whereas a pixel-edge polygon rasterised with `frPoly`
//! reproduces the mask exactly. Hence this small hand-written tracer (and
//! `imageproc::region_labelling` panics on some one-pixel-wide images). Foreground is
//! 8-connected (as `find_contours` and `cv2.findContours`): at a corner where two
//! foreground pixels touch diagonally, the tracer keeps them in one ring.
//!
//! Rasterisation semantics (chosen: COCO). A part is flattened to one COCO polygon;
//! its holes are joined to the outer ring by zero-width "keyhole" bridges (there and
//! back along the same segment), so pycocotools' per-polygon parity fill (`frPoly`)
//! leaves the holes empty; parts are merged by union, as `annToRLE` does. So the
//! mask samkit rasterises is the mask pycocotools decodes from the exported polygons.

use crate::mask::check_size;
use crate::{CocoRle, Mask, MaskError};
use geo::{Coord, LineString, Simplify};

/// Default simplification tolerance, in pixels (Douglas–Peucker epsilon). At 0.5 px
/// the rasterised polygons of the 50 GrabCut masks are still pixel-exact (mean IoU
/// 1.0) with 20 % fewer vertices; 1.0 px gives mean IoU 0.9926 with 5× fewer.
pub const DEFAULT_TOLERANCE: f64 = 0.5;

/// One connected object: an outer ring and its holes. Points are `[x, y]` in pixel
/// coordinates (pixel `(i, j)` spans `[i, i+1) × [j, j+1)`); rings are implicitly closed.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonPart {
    pub exterior: Vec<[f64; 2]>,
    pub holes: Vec<Vec<[f64; 2]>>,
}

/// All parts of one mask (multi-part objects keep every part), with the canvas size.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygons {
    pub width: u32,
    pub height: u32,
    pub parts: Vec<PolygonPart>,
}

const RIGHT: u8 = 1;
const DOWN: u8 = 2;
const LEFT: u8 = 4;
const UP: u8 = 8;

struct Ring {
    points: Vec<[f64; 2]>,
    /// A foreground pixel on the ring's inner side (row-major index).
    pixel: usize,
    signed_area: f64,
}

/// Traces every boundary ring of `mask` along pixel edges. Outer rings run clockwise
/// on screen (positive shoelace area with y down), holes counter-clockwise.
fn trace_rings(mask: &Mask) -> Vec<Ring> {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let vw = w + 1;
    let mut bits = vec![0u8; vw * (h + 1)];
    let data = mask.as_slice();
    let at = |x: isize, y: isize| -> bool {
        x >= 0
            && y >= 0
            && (x as usize) < w
            && (y as usize) < h
            && data[y as usize * w + x as usize] != 0
    };
    for y in 0..h {
        for x in 0..w {
            if data[y * w + x] == 0 {
                continue;
            }
            let (xi, yi) = (x as isize, y as isize);
            if !at(xi, yi - 1) {
                bits[y * vw + x] |= RIGHT;
            }
            if !at(xi + 1, yi) {
                bits[y * vw + x + 1] |= DOWN;
            }
            if !at(xi, yi + 1) {
                bits[(y + 1) * vw + x + 1] |= LEFT;
            }
            if !at(xi - 1, yi) {
                bits[(y + 1) * vw + x] |= UP;
            }
        }
    }
    let step = |v: usize, d: u8| -> usize {
        match d {
            RIGHT => v + 1,
            DOWN => v + vw,
            LEFT => v - 1,
            _ => v - vw,
        }
    };
    // At a saddle (two diagonal foreground pixels) turning left keeps them in one ring.
    let left_of = |d: u8| -> u8 {
        match d {
            RIGHT => UP,
            DOWN => RIGHT,
            LEFT => DOWN,
            _ => LEFT,
        }
    };
    let mut rings = Vec::new();
    for v0 in 0..bits.len() {
        while bits[v0] != 0 {
            let b = bits[v0];
            let d0 = b & b.wrapping_neg(); // lowest set bit
            let (x0, y0) = (v0 % vw, v0 / vw);
            let pixel = match d0 {
                RIGHT => y0 * w + x0,
                DOWN => y0 * w + x0 - 1,
                LEFT => (y0 - 1) * w + x0 - 1,
                _ => (y0 - 1) * w + x0,
            };
            let mut points = Vec::new();
            let (mut v, mut d) = (v0, d0);
            loop {
                bits[v] &= !d;
                let nv = step(v, d);
                let avail = bits[nv] | if nv == v0 { d0 } else { 0 };
                let nd = if avail.count_ones() > 1 {
                    left_of(d)
                } else {
                    avail
                };
                if nd != d {
                    points.push([(nv % vw) as f64, (nv / vw) as f64]);
                }
                if (nv == v0 && nd == d0) || nd == 0 {
                    break;
                }
                v = nv;
                d = nd;
            }
            // Rotate so that the ring starts at its first corner after v0 — v0 is last.
            if let Some(last) = points.pop() {
                points.insert(0, last);
            }
            let signed_area = shoelace(&points);
            rings.push(Ring {
                points,
                pixel,
                signed_area,
            });
        }
    }
    rings
}

fn shoelace(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    (0..n)
        .map(|i| {
            let (a, b) = (p[i], p[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

fn simplify_ring(points: Vec<[f64; 2]>, tolerance: f64) -> Vec<[f64; 2]> {
    if tolerance <= 0.0 || points.len() <= 4 {
        return points;
    }
    let mut coords: Vec<Coord<f64>> = points.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
    coords.push(coords[0]);
    let simplified = LineString::new(coords).simplify(tolerance);
    let mut out: Vec<[f64; 2]> = simplified.0.iter().map(|c| [c.x, c.y]).collect();
    out.pop(); // closing point
    if out.len() < 3 || shoelace(&out).abs() < 1e-9 {
        points
    } else {
        out
    }
}

impl Polygons {
    /// Contours of `mask` with holes and every part; `tolerance` is the
    /// Douglas–Peucker epsilon in pixels (0 = exact pixel-edge polygons, which
    /// rasterise back to the identical mask).
    pub fn from_mask(mask: &Mask, tolerance: f64) -> Polygons {
        let (w, h) = (mask.width(), mask.height());
        let rings = trace_rings(mask);
        let mut parts: Vec<PolygonPart> = Vec::new();
        if !rings.is_empty() {
            let (labels, _) = crate::regions::label_components(mask);
            let label_of = |pixel: usize| -> u32 { labels.get(pixel).copied().unwrap_or(0) };
            let mut part_of_label = std::collections::HashMap::new();
            let (outers, holes): (Vec<Ring>, Vec<Ring>) =
                rings.into_iter().partition(|r| r.signed_area > 0.0);
            for r in outers {
                part_of_label.insert(label_of(r.pixel), parts.len());
                parts.push(PolygonPart {
                    exterior: simplify_ring(r.points, tolerance),
                    holes: Vec::new(),
                });
            }
            for r in holes {
                if let Some(&i) = part_of_label.get(&label_of(r.pixel)) {
                    parts[i].holes.push(simplify_ring(r.points, tolerance));
                }
            }
        }
        Polygons {
            width: w,
            height: h,
            parts,
        }
    }

    /// Parts as COCO polygons `[x0, y0, x1, y1, ...]`, one per part, holes joined by
    /// keyhole bridges (see the module doc).
    pub fn to_coco(&self) -> Vec<Vec<f64>> {
        self.parts.iter().map(PolygonPart::to_flat).collect()
    }

    /// Builds polygons from COCO flat lists (one part per list, no holes).
    /// Errors on lists of fewer than 3 points, odd length or non-finite values.
    pub fn from_coco(width: u32, height: u32, polys: &[Vec<f64>]) -> Result<Polygons, MaskError> {
        check_size(width, height)?;
        let mut parts = Vec::with_capacity(polys.len());
        for p in polys {
            if p.len() < 6 || p.len() % 2 != 0 {
                return Err(MaskError::PolygonTooShort {
                    points: p.len() / 2,
                });
            }
            if p.iter().any(|v| !v.is_finite()) {
                return Err(MaskError::PolygonNotFinite);
            }
            parts.push(PolygonPart {
                exterior: p.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
                holes: Vec::new(),
            });
        }
        Ok(Polygons {
            width,
            height,
            parts,
        })
    }

    /// Rasterises with COCO semantics (see module doc): the mask pycocotools'
    /// `annToMask` gives for [`Polygons::to_coco`].
    pub fn to_rle(&self) -> Result<CocoRle, MaskError> {
        CocoRle::from_polygons(self.height, self.width, &self.to_coco())
    }

    pub fn rasterize(&self) -> Result<Mask, MaskError> {
        Ok(self.to_rle()?.decode())
    }

    /// Number of vertices over all rings.
    pub fn vertex_count(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.exterior.len() + p.holes.iter().map(Vec::len).sum::<usize>())
            .sum()
    }
}

impl PolygonPart {
    /// One flat COCO polygon; holes joined to `exterior[0]` by keyhole bridges.
    pub fn to_flat(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self.exterior.iter().flat_map(|p| [p[0], p[1]]).collect();
        if let Some(anchor) = self.exterior.first() {
            for hole in self.holes.iter().filter(|h| !h.is_empty()) {
                out.extend_from_slice(anchor);
                out.extend(hole.iter().flat_map(|p| [p[0], p[1]]));
                out.extend_from_slice(&hole[0]);
            }
        }
        out
    }
}

/// IoU lost by exporting `mask` as polygons at `tolerance`: `1 − IoU(mask,
/// rasterise(polygons))`. 0.0 means the export is exact.
pub fn polygon_iou_loss(mask: &Mask, tolerance: f64) -> Result<f64, MaskError> {
    let back = Polygons::from_mask(mask, tolerance).rasterize()?;
    Ok(1.0 - mask.iou(&back)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rows: &[&str]) -> Mask {
        let h = rows.len() as u32;
        let w = rows[0].len() as u32;
        Mask::from_fn(w, h, |x, y| rows[y as usize].as_bytes()[x as usize] == b'#').unwrap()
    }

    #[test]
    fn square_is_four_corners() {
        let m = parse(&["....", ".##.", ".##.", "...."]);
        let p = Polygons::from_mask(&m, 0.0);
        assert_eq!(p.parts.len(), 1);
        assert_eq!(
            p.parts[0].exterior,
            vec![[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]]
        );
        assert_eq!(p.rasterize().unwrap(), m);
    }

    #[test]
    fn holes_parts_and_diagonals_round_trip_exactly() {
        let m = parse(&[
            "#######..#",
            "#.....#..#",
            "#.###.#...",
            "#.#.#.#.#.",
            "#.###.#..#",
            "#.....#.#.",
            "#######...",
        ]);
        let p = Polygons::from_mask(&m, 0.0);
        assert_eq!(p.rasterize().unwrap(), m);
        assert!(p.parts.iter().any(|part| !part.holes.is_empty()));
        assert_eq!(polygon_iou_loss(&m, 0.0).unwrap(), 0.0);
    }

    #[test]
    fn checkerboard_and_edges_round_trip() {
        for (w, h) in [(1, 1), (1, 7), (7, 1), (6, 5)] {
            let m = Mask::from_fn(w, h, |x, y| (x + y) % 2 == 0).unwrap();
            assert_eq!(Polygons::from_mask(&m, 0.0).rasterize().unwrap(), m);
            let full = Mask::from_fn(w, h, |_, _| true).unwrap();
            assert_eq!(Polygons::from_mask(&full, 0.0).rasterize().unwrap(), full);
        }
        let empty = Mask::new(4, 4).unwrap();
        let p = Polygons::from_mask(&empty, 0.0);
        assert!(p.parts.is_empty());
        assert_eq!(p.rasterize().unwrap(), empty);
    }

    #[test]
    fn simplification_reduces_vertices_and_keeps_iou() {
        let m = Mask::from_fn(200, 200, |x, y| {
            let (dx, dy) = (x as f64 - 100.0, y as f64 - 100.0);
            dx * dx + dy * dy < 80.0 * 80.0
        })
        .unwrap();
        let exact = Polygons::from_mask(&m, 0.0);
        let simple = Polygons::from_mask(&m, 1.0);
        assert!(simple.vertex_count() < exact.vertex_count() / 2);
        assert!(polygon_iou_loss(&m, 1.0).unwrap() < 0.01);
    }

    proptest::proptest! {
        /// Exact polygons rasterise back to the identical mask, whatever its topology
        /// (holes, islands in holes, diagonal contacts, borders).
        #[test]
        fn exact_polygons_round_trip(w in 1u32..24, h in 1u32..24, seed in proptest::prelude::any::<u64>(), density in 1u64..8) {
            let mut s = seed;
            let m = Mask::from_fn(w, h, |_, _| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 61) < density
            }).unwrap();
            let p = Polygons::from_mask(&m, 0.0);
            proptest::prop_assert_eq!(p.rasterize().unwrap(), m.clone());
            // Simplified polygons never lose a part.
            proptest::prop_assert_eq!(Polygons::from_mask(&m, 1.0).parts.len(), p.parts.len());
        }
    }

    #[test]
    fn from_coco_validates() {
        assert!(Polygons::from_coco(5, 5, &[vec![0.0, 0.0, 1.0, 1.0]]).is_err());
        assert!(Polygons::from_coco(5, 5, &[vec![0.0, 0.0, 1.0, 1.0, 2.0]]).is_err());
        let p = Polygons::from_coco(5, 5, &[vec![0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0]]).unwrap();
        assert_eq!(p.rasterize().unwrap().area(), 4);
    }
}
