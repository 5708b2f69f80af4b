//! The point grids (`amg.py`: `build_point_grid`, `build_all_layer_point_grids`).

use crate::{AutoError, Result};

/// `n × n` points evenly spaced in `[0, 1]²`, half a cell from the borders, row by row
/// (x varies fastest), as `[x, y]`. The spacing is numpy's `linspace(offset, 1 −
/// offset, n)`: `start + i · step`, the last point exactly `1 − offset`.
pub fn build_point_grid(n_per_side: u32) -> Result<Vec<[f64; 2]>> {
    if n_per_side == 0 {
        // SAM divides by zero here (offset = 1 / (2 · 0)).
        return Err(AutoError::Param(
            "points per side is 0: give at least 1".into(),
        ));
    }
    let n = n_per_side as usize;
    let offset = 1.0 / (2.0 * n_per_side as f64);
    let (start, stop) = (offset, 1.0 - offset);
    let one_side: Vec<f64> = if n == 1 {
        vec![start]
    } else {
        let step = (stop - start) / (n - 1) as f64;
        let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
        v[n - 1] = stop;
        v
    };
    let mut points = Vec::with_capacity(n * n);
    for &y in &one_side {
        for &x in &one_side {
            points.push([x, y]);
        }
    }
    Ok(points)
}

/// The grid of each crop layer `0..=n_layers`: layer `i` has
/// `int(n_per_side / scale_per_layer^i)` points per side.
pub fn build_all_layer_point_grids(
    n_per_side: u32,
    n_layers: u32,
    scale_per_layer: u32,
) -> Result<Vec<Vec<[f64; 2]>>> {
    if scale_per_layer == 0 && n_layers > 0 {
        return Err(AutoError::Param(
            "crop points downscale factor is 0: give at least 1".into(),
        ));
    }
    (0..=n_layers)
        .map(|i| {
            let n = (n_per_side as f64 / (scale_per_layer as f64).powi(i as i32)) as u32;
            if n == 0 {
                return Err(AutoError::Param(format!(
                    "crop layer {i} would have 0 points per side ({n_per_side} / {scale_per_layer}^{i}): \
                     lower --crop-n-points-downscale-factor or --crop-n-layers"
                )));
            }
            build_point_grid(n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_per_side_is_eighths() {
        // offset 1/8, linspace(0.125, 0.875, 4) = 0.125, 0.375, 0.625, 0.875
        let g = build_point_grid(4).unwrap();
        assert_eq!(g.len(), 16);
        let side = [0.125, 0.375, 0.625, 0.875];
        for (k, p) in g.iter().enumerate() {
            assert_eq!(p[0], side[k % 4], "x of point {k}");
            assert_eq!(p[1], side[k / 4], "y of point {k}");
        }
    }

    #[test]
    fn one_point_is_the_centre_and_zero_is_refused() {
        assert_eq!(build_point_grid(1).unwrap(), vec![[0.5, 0.5]]);
        assert!(build_point_grid(0).is_err());
    }

    #[test]
    fn linspace_arithmetic_is_numpys() {
        // numpy.linspace(1/6, 5/6, 3)[1] == 0.5 exactly; step = (5/6 − 1/6) / 2.
        let g = build_point_grid(3).unwrap();
        let step = ((1.0 - 1.0 / 6.0) - 1.0 / 6.0) / 2.0;
        assert_eq!(g[1][0], step + 1.0 / 6.0);
        assert_eq!(g[2][0], 1.0 - 1.0 / 6.0);
    }

    #[test]
    fn layers_downscale_by_the_factor_truncating() {
        let grids = build_all_layer_point_grids(32, 2, 3).unwrap();
        // int(32 / 1), int(32 / 3) = 10, int(32 / 9) = 3
        let sides: Vec<usize> = grids
            .iter()
            .map(|g| (g.len() as f64).sqrt() as usize)
            .collect();
        assert_eq!(sides, vec![32, 10, 3]);
        assert!(build_all_layer_point_grids(2, 1, 4).is_err());
        assert!(build_all_layer_point_grids(2, 1, 0).is_err());
        assert_eq!(build_all_layer_point_grids(2, 0, 0).unwrap().len(), 1);
    }
}
