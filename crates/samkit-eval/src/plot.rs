//! Mean IoU against the number of clicks, one line per curve (variant or model), as a PNG.
//!
//! Drawn with `plotters`' bitmap backend into a buffer and saved with `image`. Text uses
//! `plotters`' `ab_glyph` renderer with DejaVu Sans bundled in `assets/` (Bitstream Vera
//! licence, see `assets/DejaVuSans.LICENSE`), so no system font library is needed.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::{EvalError, Result};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn ensure_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font cannot be read".to_string())
        })
        .clone()
}

/// A labelled curve: the mean IoU after 1, 2, … clicks.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub miou: Vec<f64>,
}

/// Size of the PNG.
pub const PLOT_SIZE: (u32, u32) = (640, 400);

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `curves` (mIoU in 0..=1 against clicks 1..) titled `title` and saves a PNG.
pub fn plot_miou(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    let err = |reason: String| EvalError::Plot {
        path: path.to_path_buf(),
        reason,
    };
    ensure_font().map_err(err)?;
    let (w, h) = PLOT_SIZE;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    draw(&mut buf, title, curves).map_err(|e| err(e.to_string()))?;
    let img = image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| err("plot buffer has the wrong size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| err(e.to_string()))?;
    Ok(samkit_outfile::write_bytes(path, &png)?)
}

fn draw(
    buf: &mut [u8],
    title: &str,
    curves: &[Curve],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buf, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let max_clicks = curves
        .iter()
        .map(|c| c.miou.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let lowest = curves
        .iter()
        .flat_map(|c| c.miou.iter().copied())
        .fold(1.0f64, f64::min);
    // Start the y axis at a multiple of 0.1 below the lowest point (at most 0.5 below 1.0).
    let y0 = ((lowest * 10.0).floor() / 10.0).clamp(0.0, 0.5);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(1f64..max_clicks as f64, y0..1.0f64)?;
    chart
        .configure_mesh()
        .x_desc("clicks")
        .y_desc("mean IoU")
        .x_labels(max_clicks.min(20))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, c) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = c
            .miou
            .iter()
            .enumerate()
            .map(|(k, &v)| ((k + 1) as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(c.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.png");
        let curves = [
            Curve {
                label: "prev".into(),
                miou: vec![0.66, 0.8, 0.9, 0.95, 0.96],
            },
            Curve {
                label: "nomask".into(),
                miou: vec![0.66, 0.74, 0.84, 0.88, 0.9],
            },
        ];
        plot_miou(&path, "test", &curves).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), PLOT_SIZE);
        // Not blank: some non-white pixels.
        assert!(img.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
        // A directory that does not exist gives an error, not a panic.
        assert!(plot_miou(&dir.path().join("no/such/dir.png"), "t", &curves).is_err());
    }
}
