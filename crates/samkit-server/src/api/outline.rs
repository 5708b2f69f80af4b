//! A mask's outline as polygons (for editing it vertex by vertex in the UI): samkit-mask's
//! contours with holes and every part, simplified by Douglas–Peucker.

use super::*;
use samkit_mask::Polygons;

/// The largest simplification accepted (px): beyond it the outline no longer follows the mask.
const MAX_TOLERANCE: f64 = 20.0;
/// The most vertices sent back: a polygon editor is of no use past that.
const MAX_VERTICES: usize = 20_000;

#[derive(Deserialize)]
pub(super) struct OutlineReq {
    pub(super) rle: Value,
    pub(super) tolerance: Option<f64>,
}

pub(super) async fn outline(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<OutlineReq>,
) -> ApiResult<Json<Value>> {
    let img = own_image(&st, id).await?;
    let tolerance = r.tolerance.unwrap_or(1.0);
    if !(tolerance.is_finite() && (0.0..=MAX_TOLERANCE).contains(&tolerance)) {
        return Err(ApiError::bad_request(format!(
            "tolerance must be from 0 (exact pixel edges) to {MAX_TOLERANCE} px, not {tolerance}"
        )));
    }
    let (stored, _, _) = parse_rle(r.rle, &img)?;
    let rle: CocoRle =
        serde_json::from_value(stored).map_err(|e| ApiError::internal(e.to_string()))?;
    let polygons =
        tokio::task::spawn_blocking(move || Polygons::from_mask(&rle.decode(), tolerance))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    let vertices = polygons.vertex_count();
    if vertices > MAX_VERTICES {
        return Err(ApiError::bad_request(format!(
            "the outline has {vertices} vertices (at most {MAX_VERTICES}); raise the tolerance"
        )));
    }
    Ok(Json(outline_json(&polygons)))
}

fn outline_json(p: &Polygons) -> Value {
    let parts: Vec<Value> = p
        .parts
        .iter()
        .map(|part| json!({"exterior": part.exterior, "holes": part.holes}))
        .collect();
    json!({"size": [p.height, p.width], "parts": parts, "vertices": p.vertex_count()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_mask::Mask;

    #[test]
    fn a_square_with_a_hole_is_one_part_with_one_hole() {
        let m = Mask::from_fn(10, 8, |x, y| {
            (1..9).contains(&x) && (1..7).contains(&y) && !(x == 4 && y == 3)
        })
        .unwrap();
        let v = outline_json(&Polygons::from_mask(&m, 0.0));
        assert_eq!(v["size"], json!([8, 10]));
        let parts = v["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0]["holes"].as_array().unwrap().len(), 1);
        // Pixel-edge coordinates: the square spans [1, 9] × [1, 7].
        let xs: Vec<f64> = parts[0]["exterior"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_f64().unwrap())
            .collect();
        assert_eq!(xs.iter().cloned().fold(f64::INFINITY, f64::min), 1.0);
        assert_eq!(xs.iter().cloned().fold(0.0, f64::max), 9.0);
    }
}
