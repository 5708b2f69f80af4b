//! The review workflow: assignments (`/api/assignments`: by hand or in bulk, round robin
//! with an overlap for agreement), their transitions (start, submit, approve, reject,
//! reopen) and review comments on instances.

use super::*;
use crate::auth::Identity;
use samkit_store::{AssignmentQuery, Role, WorkAction, WorkState};

fn assignment_json(a: &samkit_store::Assignment) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

#[derive(Deserialize)]
pub(super) struct AssignmentsReq {
    image: Option<i64>,
    user: Option<String>,
    state: Option<String>,
}

/// Assignments: an annotator's own; everyone's for reviewers and admins (the review queue
/// is `?state=submitted`).
pub(super) async fn list_assignments(
    State(st): S,
    axum::Extension(identity): axum::Extension<Identity>,
    ApiQuery(q): ApiQuery<AssignmentsReq>,
) -> ApiResult<Json<Value>> {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(WorkState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state {s:?} is not one of assigned, in_progress, submitted, approved, rejected"
            ))
        })?),
    };
    let mut user_id = match q.user.as_deref() {
        None | Some("") => None,
        Some(name) => Some(user_by_name(&st, name).await?.id),
    };
    if let Identity::User(u) = &identity {
        if u.role == Role::Annotator {
            user_id = Some(u.id);
        }
    }
    let q = AssignmentQuery {
        image_id: q.image,
        user_id,
        state,
    };
    let list = st.store.assignments(st.project_id, &q).await.api()?;
    Ok(Json(
        json!({"assignments": list.iter().map(assignment_json).collect::<Vec<_>>()}),
    ))
}

async fn user_by_name(st: &AppState, name: &str) -> ApiResult<samkit_store::User> {
    st.store
        .user_by_name(name)
        .await
        .api()?
        .ok_or_else(|| ApiError::not_found(format!("there is no user {name:?}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignReq {
    /// By hand: these images to `user`.
    images: Option<Vec<i64>>,
    user: Option<String>,
    /// In bulk: the unassigned images, round robin.
    bulk: Option<BulkReq>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BulkReq {
    /// Annotators to share the images between [default: every enabled annotator].
    annotators: Option<Vec<String>>,
    /// At most this many images each (an overlap image counts for each of its
    /// annotators) [default: all the unassigned images are shared out].
    per_annotator: Option<usize>,
    /// A fraction of the images (0–1) given to `k` annotators independently.
    #[serde(default)]
    overlap: Option<OverlapReq>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OverlapReq {
    fraction: f64,
    k: usize,
}

/// Which annotator gets which image: images in order, each to the next annotators of the
/// round robin that still have room; every image whose share of `fraction` reaches a new
/// whole number (evenly spread) goes to `k` of them, the others to one. Stops when the
/// images run out or no one has room.
pub fn plan_bulk(
    images: &[i64],
    annotators: &[i64],
    per_annotator: Option<usize>,
    fraction: f64,
    k: usize,
) -> Vec<(i64, i64)> {
    let n = annotators.len();
    let mut load = vec![0usize; n];
    let room = |l: usize| per_annotator.is_none_or(|p| l < p);
    let mut next = 0usize;
    let mut out = Vec::new();
    for (i, &image) in images.iter().enumerate() {
        if n == 0 || !load.iter().any(|&l| room(l)) {
            break;
        }
        let overlap = (((i + 1) as f64 * fraction).floor() - (i as f64 * fraction).floor()) >= 1.0;
        let copies = if overlap { k.clamp(1, n) } else { 1 };
        let (start, mut given) = (next, 0);
        for step in 0..n {
            if given == copies {
                break;
            }
            let a = (start + step) % n;
            if room(load[a]) {
                out.push((image, annotators[a]));
                load[a] += 1;
                given += 1;
                next = (a + 1) % n;
            }
        }
    }
    out
}

pub(super) async fn create_assignments(
    State(st): S,
    Author(author): Author,
    ApiJson(req): ApiJson<AssignReq>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut made = Vec::new();
    match (req.images, req.user, req.bulk) {
        (Some(images), Some(user), None) => {
            if images.len() > 100_000 {
                return Err(ApiError::bad_request("at most 100000 images per request"));
            }
            let u = user_by_name(&st, &user).await?;
            made = st
                .store
                .assign(st.project_id, &images, u.id, &author)
                .await
                .api()?;
        }
        (None, None, Some(bulk)) => {
            let users = st.store.users().await.api()?;
            let chosen: Vec<&samkit_store::User> = match &bulk.annotators {
                Some(names) => {
                    let mut v = Vec::new();
                    for n in names {
                        let key = n.trim().to_lowercase();
                        let u = users
                            .iter()
                            .find(|u| u.name.to_lowercase() == key)
                            .ok_or_else(|| {
                                ApiError::not_found(format!("there is no user {n:?}"))
                            })?;
                        v.push(u);
                    }
                    v
                }
                None => users
                    .iter()
                    .filter(|u| u.role == Role::Annotator && !u.disabled)
                    .collect(),
            };
            if chosen.is_empty() {
                return Err(ApiError::bad_request(
                    "no annotators to assign to: add some (samkit users add NAME --role annotator) or name them",
                ));
            }
            let (fraction, k) = match &bulk.overlap {
                Some(o) if !(0.0..=1.0).contains(&o.fraction) || o.k == 0 => {
                    return Err(ApiError::bad_request(
                        "overlap.fraction must be in 0..1 and overlap.k at least 1",
                    ))
                }
                Some(o) => (o.fraction, o.k),
                None => (0.0, 1),
            };
            let assigned: std::collections::HashSet<i64> = st
                .store
                .assignments(st.project_id, &AssignmentQuery::default())
                .await
                .api()?
                .into_iter()
                .map(|a| a.image_id)
                .collect();
            let free: Vec<i64> = st
                .store
                .list_images(st.project_id)
                .await
                .api()?
                .into_iter()
                .filter(|i| !i.missing && !assigned.contains(&i.id))
                .map(|i| i.id)
                .collect();
            let ids: Vec<i64> = chosen.iter().map(|u| u.id).collect();
            let plan = plan_bulk(&free, &ids, bulk.per_annotator, fraction, k);
            for u in &ids {
                let mine: Vec<i64> = plan
                    .iter()
                    .filter(|(_, a)| a == u)
                    .map(|(i, _)| *i)
                    .collect();
                made.extend(
                    st.store
                        .assign(st.project_id, &mine, *u, &author)
                        .await
                        .api()?,
                );
            }
            made.sort_by_key(|a| (a.image_id, a.id));
        }
        _ => {
            return Err(ApiError::bad_request(
                "give {\"images\": [ids], \"user\": NAME} or {\"bulk\": {\"per_annotator\": N, \
                 \"overlap\": {\"fraction\": 0.1, \"k\": 2}}}",
            ))
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"assignments": made.iter().map(assignment_json).collect::<Vec<_>>()})),
    ))
}

#[derive(Deserialize)]
pub(super) struct VersionQuery {
    version: Option<i64>,
}

pub(super) async fn delete_assignment(
    State(st): S,
    Author(author): Author,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    let a = own_assignment(&st, id).await?;
    let version = q.version.unwrap_or(a.version);
    st.store.unassign(id, version, &author).await.api()?;
    Ok(Json(json!({"deleted": id})))
}

async fn own_assignment(st: &AppState, id: i64) -> ApiResult<samkit_store::Assignment> {
    let a = st.store.assignment(id).await.api()?;
    if a.project_id != st.project_id {
        return Err(ApiError::not_found(format!(
            "assignment {id} does not exist"
        )));
    }
    Ok(a)
}

#[derive(Deserialize)]
pub(super) struct TransitionReq {
    version: i64,
    #[serde(default)]
    comment: String,
}

/// `POST /api/assignments/{id}/{action}`: the assignee starts and submits; a reviewer
/// (or admin) approves, rejects (with a comment) and reopens.
pub(super) async fn transition(
    State(st): S,
    Author(author): Author,
    axum::Extension(identity): axum::Extension<Identity>,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(req): ApiJson<TransitionReq>,
) -> ApiResult<Json<Value>> {
    let action: WorkAction = serde_json::from_value(json!(action)).map_err(|_| {
        ApiError::not_found(format!(
            "no workflow action {action:?}: start, submit, approve, reject or reopen"
        ))
    })?;
    let a = own_assignment(&st, id).await?;
    if let Identity::User(u) = &identity {
        let ok = if action.by_assignee() {
            u.id == a.user_id
        } else {
            matches!(u.role, Role::Reviewer | Role::Admin)
        };
        if !ok {
            let who = if action.by_assignee() {
                format!("{} (the annotator it is assigned to)", a.user_name)
            } else {
                "a reviewer or an admin".into()
            };
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("only {who} can {} this work", action.as_str()),
            ));
        }
    }
    let after = st
        .store
        .transition(id, req.version, action, &req.comment, &author)
        .await
        .api()?;
    Ok(Json(assignment_json(&after)))
}

/// The agreement and progress report (`samkit report`).
pub(super) async fn report(State(st): S) -> ApiResult<Json<Value>> {
    let r = crate::report::report(&st.store, st.project_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::to_value(r).unwrap_or(Value::Null)))
}

pub(super) async fn list_comments(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    own_image(&st, id).await?;
    let list = st.store.comments(id).await.api()?;
    Ok(Json(json!({"comments": list})))
}

#[derive(Deserialize)]
pub(super) struct CommentReq {
    text: String,
}

pub(super) async fn add_comment(
    State(st): S,
    Author(author): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CommentReq>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let inst = st.store.instance(id).await.api()?;
    own_image(&st, inst.image_id).await?;
    let c = st.store.add_comment(id, &req.text, &author).await.api()?;
    Ok((StatusCode::CREATED, Json(json!(c))))
}

#[cfg(test)]
mod tests {
    use super::plan_bulk;

    #[test]
    fn bulk_assignment_is_round_robin_with_an_even_overlap() {
        let images: Vec<i64> = (1..=10).collect();
        // No overlap: 1 image each in turn.
        let p = plan_bulk(&images, &[100, 200], None, 0.0, 1);
        assert_eq!(p.len(), 10);
        assert_eq!(&p[..4], &[(1, 100), (2, 200), (3, 100), (4, 200)]);
        // A cap per annotator stops the sharing out.
        let p = plan_bulk(&images, &[100, 200, 300], Some(2), 0.0, 1);
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|(i, _)| *i <= 6));
        // 20 % overlap with k = 2: images 5 and 10 go to two annotators.
        let p = plan_bulk(&images, &[100, 200, 300], None, 0.2, 2);
        let twice: Vec<i64> = images
            .iter()
            .copied()
            .filter(|i| p.iter().filter(|(x, _)| x == i).count() == 2)
            .collect();
        assert_eq!(twice, [5, 10]);
        for i in &twice {
            let who: Vec<i64> = p.iter().filter(|(x, _)| x == i).map(|(_, a)| *a).collect();
            assert_ne!(who[0], who[1], "two different annotators");
        }
        assert_eq!(p.len(), 12);
        // k larger than the team: everyone, once.
        let p = plan_bulk(&[1], &[100, 200], None, 1.0, 5);
        assert_eq!(p, [(1, 100), (1, 200)]);
        assert!(plan_bulk(&images, &[], None, 0.0, 1).is_empty());
    }
}
