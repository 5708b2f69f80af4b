//! What an annotator may see and change: the images assigned to them (the review
//! workflow's assignments), their own work on an image others annotate too, and nothing
//! while their work waits for review. Admins and reviewers see everything.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::StatusCode;
use samkit_store::{AssignmentQuery, Role, WorkState};

use crate::auth::Identity;
use crate::error::ApiError;
use crate::AppState;

/// An annotator's assignments, by image: `(assignment id, state)`.
#[derive(Debug, Clone, Default)]
pub struct AnnotatorScope {
    pub images: HashMap<i64, (i64, WorkState)>,
}

impl AnnotatorScope {
    pub async fn load(st: &AppState, user_id: i64) -> Result<Self, ApiError> {
        let q = AssignmentQuery {
            user_id: Some(user_id),
            ..Default::default()
        };
        let list = st.store.assignments(st.project_id, &q).await?;
        Ok(AnnotatorScope {
            images: list
                .into_iter()
                .map(|a| (a.image_id, (a.id, a.work_state())))
                .collect(),
        })
    }

    pub fn sees(&self, image_id: i64) -> bool {
        self.images.contains_key(&image_id)
    }

    /// The annotator's assignment on `image_id`.
    pub fn assignment(&self, image_id: i64) -> Option<i64> {
        self.images.get(&image_id).map(|(a, _)| *a)
    }
}

/// The scope of a request's identity: `Some` for a signed-in annotator.
pub async fn of(st: &AppState, identity: &Identity) -> Result<Option<AnnotatorScope>, ApiError> {
    match identity {
        Identity::User(u) if u.role == Role::Annotator => {
            Ok(Some(AnnotatorScope::load(st, u.id).await?))
        }
        _ => Ok(None),
    }
}

fn not_assigned(image_id: i64) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_assigned",
        format!("image {image_id} is not assigned to you; an admin assigns images"),
    )
}

/// Routes that change an image's annotations (refused while the work is submitted).
fn changes_annotations(method: &str, route: &str) -> bool {
    matches!(
        (method, route),
        ("POST", "/api/images/{id}/instances")
            | ("PATCH", "/api/instances/{id}")
            | ("DELETE", "/api/instances/{id}")
            | ("POST", "/api/instances/{id}/restore")
            | ("POST", "/api/history/{id}/restore")
    )
}

/// Checks a request of an annotator against their scope: the image the route names
/// (directly, through an instance or a history entry) must be theirs, and a change to
/// its annotations waits while their work is submitted.
pub async fn check(
    st: &AppState,
    scope: &AnnotatorScope,
    method: &str,
    route: &str,
    parts: &mut Parts,
) -> Result<(), ApiError> {
    let Ok(params) = RawPathParams::from_request_parts(parts, &()).await else {
        return Ok(());
    };
    let Some(id) = params
        .iter()
        .find(|(k, _)| *k == "id")
        .and_then(|(_, v)| v.parse::<i64>().ok())
    else {
        return Ok(());
    };
    let mut work_of_instance = None;
    let image_id = if route.starts_with("/api/images/{id}") {
        Some(id)
    } else if route.starts_with("/api/instances/{id}") {
        let inst = st.store.instance(id).await.ok();
        work_of_instance = inst.as_ref().and_then(|i| i.assignment_id);
        inst.map(|i| i.image_id)
    } else if route.starts_with("/api/history/{id}") {
        st.store
            .history_entry(id)
            .await
            .ok()
            .and_then(|e| e.image_id)
    } else {
        None
    };
    let Some(image_id) = image_id else {
        return Ok(());
    };
    let Some(&(own, state)) = scope.images.get(&image_id) else {
        return Err(not_assigned(image_id));
    };
    if work_of_instance.is_some_and(|w| w != own) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_assigned",
            format!("instance {id} is another annotator's work on image {image_id}"),
        ));
    }
    if state == WorkState::Submitted && changes_annotations(method, route) {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "submitted",
            format!(
                "image {image_id} is submitted for review; it can be changed again once a \
                 reviewer sends it back (or reopens it)"
            ),
        ));
    }
    Ok(())
}
