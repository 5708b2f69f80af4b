//! [`Window`]: modality values to 8-bit grey, as DICOM's linear VOI LUT function.

use std::str::FromStr;

/// A window (level) over modality values: `center` and `width`, as DICOM's Window
/// Center (0028,1050) and Window Width (0028,1051).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

/// Which window to use for a slice.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum WindowChoice {
    /// The file's window (DICOM), else the slice's 0.5–99.5 percentile range.
    #[default]
    FromFileOrPercentiles,
    /// The slice's 0.5–99.5 percentile range, whatever the file says.
    Percentiles,
    /// This window.
    Fixed(Window),
}

impl FromStr for WindowChoice {
    type Err = String;
    /// `auto` (the file's window, else percentiles), `percentiles`, or `CENTER,WIDTH`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" | "file" => Ok(WindowChoice::FromFileOrPercentiles),
            "percentiles" => Ok(WindowChoice::Percentiles),
            other => other.parse().map(WindowChoice::Fixed),
        }
    }
}

impl FromStr for Window {
    type Err = String;
    /// `CENTER,WIDTH`, e.g. `40,400` (CT soft tissue) or `-600,1500` (lung).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "window {s:?} is not CENTER,WIDTH (e.g. 40,400 for CT soft tissue), \
                 auto or percentiles"
            )
        };
        let (c, w) = s.split_once(',').ok_or_else(bad)?;
        let center: f64 = c.trim().parse().map_err(|_| bad())?;
        let width: f64 = w.trim().parse().map_err(|_| bad())?;
        Window::new(center, width).ok_or_else(|| {
            format!("window {s:?}: the width must be at least 1 and both numbers finite")
        })
    }
}

impl Window {
    /// A window, if `width ≥ 1` and both are finite (DICOM requires width ≥ 1).
    pub fn new(center: f64, width: f64) -> Option<Self> {
        (center.is_finite() && width.is_finite() && width >= 1.0)
            .then_some(Window { center, width })
    }

    /// The window spanning the 0.5 and 99.5 percentiles of `values` (NaN ignored):
    /// a few extreme voxels (metal, air) do not squeeze the rest into a few grey levels.
    pub fn from_percentiles(values: &[f32]) -> Window {
        let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return Window {
                center: 0.5,
                width: 1.0,
            };
        }
        sorted.sort_unstable_by(f32::total_cmp);
        let at = |q: f64| {
            // numpy's default (linear) percentile.
            let pos = q * (sorted.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
            let hi = (lo + 1).min(sorted.len() - 1);
            sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * frac
        };
        let (lo, hi) = (at(0.005), at(0.995));
        Window::spanning(lo, hi)
    }

    /// The window mapping `lo` to black and `hi` to white (at least 1 wide).
    pub fn spanning(lo: f64, hi: f64) -> Window {
        // Inverse of `apply`'s bounds: black at c − 0.5 − (w − 1)/2, white at c − 0.5 + (w − 1)/2.
        let width = (hi - lo + 1.0).max(1.0);
        Window {
            center: (lo + hi) / 2.0 + 0.5,
            width,
        }
    }

    /// DICOM PS3.3 C.11.2.1.2.1 (linear VOI LUT function) onto 0–255.
    pub fn apply(&self, value: f32) -> u8 {
        let x = value as f64;
        if x.is_nan() {
            return 0;
        }
        let (c, w) = (self.center, self.width);
        if x <= c - 0.5 - (w - 1.0) / 2.0 {
            0
        } else if x > c - 0.5 + (w - 1.0) / 2.0 || w <= 1.0 {
            255
        } else {
            let y = ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0;
            y.round().clamp(0.0, 255.0) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linear_function_matches_dicom_figures() {
        // CT soft tissue 40/400: black at −160 and below, white above 239.
        let w: Window = "40,400".parse().unwrap();
        assert_eq!(w.apply(-1000.0), 0);
        assert_eq!(w.apply(-160.0), 0);
        assert_eq!(w.apply(240.0), 255);
        // Centre: ((40 − 39.5) / 399 + 0.5) × 255 = 127.82 → 128.
        assert_eq!(w.apply(40.0), 128);
        // −100: ((−100 − 39.5) / 399 + 0.5) × 255 = 38.35 → 38.
        assert_eq!(w.apply(-100.0), 38);
        assert_eq!(w.apply(f32::NAN), 0);
    }

    #[test]
    fn percentiles_ignore_outliers_and_nan() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        v.push(1.0e6);
        v.push(f32::NAN);
        let w = Window::from_percentiles(&v);
        // numpy.percentile(list(range(1000)) + [1e6], [0.5, 99.5]) = [5.0, 995.0]
        assert_eq!(w.apply(5.0), 0);
        assert_eq!(w.apply(995.0), 255);
        assert_eq!(w.apply(990.0), 254);
        assert!(w.apply(500.0) > 100 && w.apply(500.0) < 155);
        let flat = Window::from_percentiles(&[7.0; 10]);
        assert_eq!(flat.apply(6.0), 0);
        assert_eq!(flat.apply(8.0), 255);
    }

    #[test]
    fn window_arguments_are_parsed_or_refused_clearly() {
        assert_eq!(
            "auto".parse::<WindowChoice>().unwrap(),
            WindowChoice::FromFileOrPercentiles
        );
        assert_eq!(
            "-600, 1500".parse::<WindowChoice>().unwrap(),
            WindowChoice::Fixed(Window {
                center: -600.0,
                width: 1500.0
            })
        );
        let err = "40".parse::<WindowChoice>().unwrap_err();
        assert!(err.contains("CENTER,WIDTH"), "{err}");
        assert!("40,0".parse::<Window>().unwrap_err().contains("at least 1"));
        assert!("40,nan".parse::<Window>().is_err());
    }
}
