use thiserror::Error;

/// Errors from building or converting masks. Every variant describes bad input;
/// none is a bug in samkit.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MaskError {
    #[error("mask data has {got} pixels, expected {width}×{height} = {expected}")]
    DataLength {
        width: u32,
        height: u32,
        expected: u64,
        got: u64,
    },
    #[error("mask size {width}×{height} exceeds the 2^32-1 pixels COCO RLE can address")]
    TooLarge { width: u32, height: u32 },
    #[error("{width}×{height} = {} pixels is over the budget of {max_pixels} pixels per image: raise it with --max-pixels if the file is genuine", u64::from(*width) * u64::from(*height))]
    OverBudget {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("masks differ in size: {a_width}×{a_height} vs {b_width}×{b_height}")]
    SizeMismatch {
        a_width: u32,
        a_height: u32,
        b_width: u32,
        b_height: u32,
    },
    #[error("RLE counts sum to {got}, expected h·w = {expected}")]
    RleCountsSum { expected: u64, got: u64 },
    #[error("invalid compressed RLE string: {0}")]
    RleString(String),
    #[error("polygon has {points} points, at least 3 are needed")]
    PolygonTooShort { points: usize },
    #[error("polygon coordinate is not finite")]
    PolygonNotFinite,
    #[error("logits length {got} does not match {expected}")]
    LogitsLength { expected: usize, got: usize },
}
