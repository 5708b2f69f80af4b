//! Rows as the store returns them. They serialise to the JSON the HTTP API sends (and
//! that history keeps as `before`/`after`).

use crate::Json;
use serde::{Deserialize, Serialize};

/// One annotation project: a folder of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub root: String,
    pub guidelines: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// Review state of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Todo,
    InProgress,
    Done,
    NeedsReview,
}

impl ImageStatus {
    pub const ALL: [ImageStatus; 4] = [
        ImageStatus::Todo,
        ImageStatus::InProgress,
        ImageStatus::Done,
        ImageStatus::NeedsReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Todo => "todo",
            ImageStatus::InProgress => "in_progress",
            ImageStatus::Done => "done",
            ImageStatus::NeedsReview => "needs_review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One image of a project, with its live instance count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Image {
    pub id: i64,
    pub project_id: i64,
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    pub width: i64,
    pub height: i64,
    pub content_hash: String,
    /// The engine's pixel hash (embedding cache key), set once the image is encoded.
    #[serde(default)]
    pub pixel_hash: Option<String>,
    pub status: String,
    #[sqlx(try_from = "crate::DbBool")]
    pub missing: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
    #[sqlx(default)]
    #[serde(default)]
    pub instance_count: i64,
}

/// What a folder scan found for one image file.
#[derive(Debug, Clone, PartialEq)]
pub struct NewImage {
    pub path: String,
    pub width: i64,
    pub height: i64,
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Category {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Place in the project's order (ascending; ties by id): hotkeys 1–9, YOLO class
    /// indices and the default category of a new instance follow it.
    #[sqlx(default)]
    #[serde(default)]
    pub position: i64,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
    #[sqlx(default)]
    #[serde(default)]
    pub instance_count: i64,
}

/// One object instance. `rle` and `prompts` are JSON the store keeps as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Instance {
    pub id: i64,
    pub image_id: i64,
    pub category_id: i64,
    pub rle: Json<serde_json::Value>,
    pub area: i64,
    /// `[x, y, w, h]`.
    pub bbox: Json<[f64; 4]>,
    pub score: Option<f64>,
    pub prompts: Json<serde_json::Value>,
    #[serde(default)]
    pub client_id: Option<String>,
    pub author: String,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
    pub version: i64,
    #[sqlx(try_from = "crate::DbBool")]
    pub deleted: bool,
    /// Drawing order within the image: ascending, ties by id (the later drawn on top). A new
    /// instance gets the image's highest, so it is drawn over the others.
    #[sqlx(default)]
    #[serde(default)]
    pub z: i64,
    /// Name → boolean, number or text ([`check_attributes`](crate::check_attributes)).
    #[serde(default = "no_attributes")]
    pub attributes: Json<serde_json::Value>,
    /// The review assignment it was made under (its author's on that image), if any.
    #[sqlx(default)]
    #[serde(default)]
    pub assignment_id: Option<i64>,
}

fn no_attributes() -> Json<serde_json::Value> {
    Json(serde_json::Value::Object(Default::default()))
}

/// A new instance; the mask (`rle`, `area`, `bbox`) is validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    pub image_id: i64,
    pub category_id: i64,
    pub rle: serde_json::Value,
    pub area: i64,
    pub bbox: [f64; 4],
    pub score: Option<f64>,
    pub prompts: serde_json::Value,
    /// Idempotency key: a second create with the same key on the same image returns the
    /// first instance.
    pub client_id: Option<String>,
    /// Attributes (checked by the store; `Null` = none).
    pub attributes: serde_json::Value,
}

/// The fields an instance update may change (`None` = keep).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstancePatch {
    pub category_id: Option<i64>,
    /// `(rle, area, bbox)` together.
    pub mask: Option<(serde_json::Value, i64, [f64; 4])>,
    pub score: Option<Option<f64>>,
    pub prompts: Option<serde_json::Value>,
    pub z: Option<i64>,
    /// The whole attribute set (replaces the old one).
    pub attributes: Option<serde_json::Value>,
}

/// One append-only history record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub id: i64,
    pub project_id: i64,
    pub entity: String,
    pub entity_id: i64,
    pub image_id: Option<i64>,
    pub action: String,
    pub author: String,
    pub at: String,
    /// The entity's version after the change.
    pub version: i64,
    #[sqlx(rename = "before_json")]
    pub before: Option<Json<serde_json::Value>>,
    #[sqlx(rename = "after_json")]
    pub after: Option<Json<serde_json::Value>>,
}

/// A history query; all filters are optional.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub image_id: Option<i64>,
    pub entity: Option<String>,
    pub entity_id: Option<i64>,
    /// Entries with `id > since`, oldest first (otherwise newest first).
    pub since: Option<i64>,
    pub limit: Option<i64>,
}

/// The result of restoring an entity from history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "entity", content = "current", rename_all = "snake_case")]
pub enum Restored {
    Instance(Instance),
    Image(Image),
    Category(Category),
    Project(Project),
}

/// Per-status image counts and the live instance total of a project.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub images: i64,
    pub todo: i64,
    pub in_progress: i64,
    pub done: i64,
    pub needs_review: i64,
    pub missing: i64,
    pub instances: i64,
}
