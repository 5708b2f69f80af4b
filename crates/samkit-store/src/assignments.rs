//! The review workflow: an image's work given to an annotator (an assignment) and its
//! states, `assigned → in_progress → submitted → approved | rejected (→ in_progress …)`,
//! every transition a versioned change with a history entry. Who may make which
//! transition (the assignee, a reviewer) is the server's to check; which transitions
//! exist, and that approved work is locked, is the store's.

use super::*;

/// Where an assignment is in the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkState {
    Assigned,
    InProgress,
    Submitted,
    Approved,
    Rejected,
}

impl WorkState {
    pub const ALL: [WorkState; 5] = [
        WorkState::Assigned,
        WorkState::InProgress,
        WorkState::Submitted,
        WorkState::Approved,
        WorkState::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkState::Assigned => "assigned",
            WorkState::InProgress => "in_progress",
            WorkState::Submitted => "submitted",
            WorkState::Approved => "approved",
            WorkState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The image status that shows this state in the image list.
    fn image_status(self) -> ImageStatus {
        match self {
            WorkState::Assigned => ImageStatus::Todo,
            WorkState::InProgress | WorkState::Rejected => ImageStatus::InProgress,
            WorkState::Submitted => ImageStatus::NeedsReview,
            WorkState::Approved => ImageStatus::Done,
        }
    }
}

/// A step of the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkAction {
    /// The annotator starts (also implied by their first change to the image).
    Start,
    /// The annotator hands the image in for review.
    Submit,
    /// A reviewer accepts it: the image's instances are locked.
    Approve,
    /// A reviewer sends it back to the annotator, with a comment.
    Reject,
    /// A reviewer takes back an approval (or a submission) for more work.
    Reopen,
}

impl WorkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkAction::Start => "start",
            WorkAction::Submit => "submit",
            WorkAction::Approve => "approve",
            WorkAction::Reject => "reject",
            WorkAction::Reopen => "reopen",
        }
    }

    /// The state this action leads to from `from`, if it is allowed there.
    pub fn apply(self, from: WorkState) -> Option<WorkState> {
        use WorkState::*;
        match (self, from) {
            (WorkAction::Start, Assigned | Rejected) => Some(InProgress),
            (WorkAction::Submit, Assigned | InProgress | Rejected) => Some(Submitted),
            (WorkAction::Approve, Submitted) => Some(Approved),
            (WorkAction::Reject, Submitted) => Some(Rejected),
            (WorkAction::Reopen, Submitted | Approved) => Some(InProgress),
            _ => None,
        }
    }

    /// Whether the action is the annotator's (else a reviewer's).
    pub fn by_assignee(self) -> bool {
        matches!(self, WorkAction::Start | WorkAction::Submit)
    }
}

/// One image's work given to one annotator.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Assignment {
    pub id: i64,
    pub project_id: i64,
    pub image_id: i64,
    pub user_id: i64,
    /// The annotator's name (joined from `users`).
    pub user_name: String,
    pub state: String,
    pub comment: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl Assignment {
    pub fn work_state(&self) -> WorkState {
        WorkState::parse(&self.state).unwrap_or(WorkState::Assigned)
    }
}

const ASSIGNMENT_SELECT: &str =
    "SELECT a.*, u.name AS user_name FROM assignments a JOIN users u ON u.id = a.user_id";

/// Which assignments to list.
#[derive(Debug, Clone, Default)]
pub struct AssignmentQuery {
    pub image_id: Option<i64>,
    pub user_id: Option<i64>,
    pub state: Option<WorkState>,
}

pub(crate) async fn get_assignment_tx(
    tx: &mut Transaction<'_, Any>,
    id: i64,
) -> Result<Assignment> {
    sqlx::query_as::<_, Assignment>(&format!("{ASSIGNMENT_SELECT} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "assignment",
            id,
        })
}

/// The assignment of the user named `author` on `image_id` (instances they make there
/// belong to it).
pub(crate) async fn assignment_of_author(
    tx: &mut Transaction<'_, Any>,
    image_id: i64,
    author: &str,
) -> Result<Option<Assignment>> {
    Ok(sqlx::query_as::<_, Assignment>(&format!(
        "{ASSIGNMENT_SELECT} WHERE a.image_id = $1 AND u.name = $2"
    ))
    .bind(image_id)
    .bind(author)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Refuses a change to the instances of approved work: the instance's own assignment,
/// or (an instance made outside the workflow) any assignment of its image.
pub(crate) async fn check_unlocked(
    tx: &mut Transaction<'_, Any>,
    image_id: i64,
    assignment_id: Option<i64>,
) -> Result<()> {
    let approved = sqlx::query_as::<_, (i64, String)>(
        "SELECT a.id, u.name FROM assignments a JOIN users u ON u.id = a.user_id \
         WHERE a.image_id = $1 AND a.state = 'approved' AND ($2 IS NULL OR a.id = $2)",
    )
    .bind(image_id)
    .bind(assignment_id)
    .fetch_optional(&mut **tx)
    .await?;
    match approved {
        Some((_, who)) => Err(StoreError::Locked(format!(
            "image {image_id}'s annotations by {who} are approved and locked; a reviewer must reopen them first"
        ))),
        None => Ok(()),
    }
}

/// The image status that sums up its assignments: the least advanced one.
async fn sync_image_status(
    tx: &mut Transaction<'_, Any>,
    image_id: i64,
    author: &str,
) -> Result<()> {
    let states =
        sqlx::query_as::<_, (String,)>("SELECT state FROM assignments WHERE image_id = $1")
            .bind(image_id)
            .fetch_all(&mut **tx)
            .await?;
    let order = [
        ImageStatus::Todo,
        ImageStatus::InProgress,
        ImageStatus::NeedsReview,
        ImageStatus::Done,
    ];
    let least = states
        .iter()
        .filter_map(|(s,)| WorkState::parse(s))
        .map(|s| s.image_status())
        .min_by_key(|s| order.iter().position(|x| x == s).unwrap_or(0));
    let image = get_image_tx(tx, image_id).await?;
    if let Some(status) = least {
        if image.status != status.as_str() {
            images::write_image_status(tx, &image, status, "workflow", author).await?;
        }
    }
    Ok(())
}

impl Store {
    /// Gives `image_ids` to `user_id` (an enabled user). An image already given to that
    /// user keeps its assignment. Returns the assignments made.
    pub async fn assign(
        &self,
        project_id: i64,
        image_ids: &[i64],
        user_id: i64,
        author: &str,
    ) -> Result<Vec<Assignment>> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let user = users::get_user_tx(&mut tx, user_id).await?.user();
        if user.disabled {
            return Err(StoreError::Invalid(format!(
                "{} is disabled; enable them or pick another user",
                user.name
            )));
        }
        let mut made = Vec::new();
        for &image_id in image_ids {
            let image = get_image_tx(&mut tx, image_id).await?;
            if image.project_id != project_id {
                return Err(StoreError::NotFound {
                    entity: "image",
                    id: image_id,
                });
            }
            let at = now();
            let id = sqlx::query_as::<_, (i64,)>(
                "INSERT INTO assignments (project_id, image_id, user_id, state, comment, version, \
                 created_at, updated_at, updated_by) VALUES ($1, $2, $3, 'assigned', '', 1, $4, $4, $5) \
                 ON CONFLICT (image_id, user_id) DO NOTHING RETURNING id",
            )
            .bind(project_id)
            .bind(image_id)
            .bind(user_id)
            .bind(&at)
            .bind(&author)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id,)) = id else { continue };
            let a = get_assignment_tx(&mut tx, id).await?;
            log(
                &mut tx,
                project_id,
                "assignment",
                id,
                Some(image_id),
                "assign",
                &author,
                &at,
                1,
                None,
                Some(to_json(&a)),
            )
            .await?;
            sync_image_status(&mut tx, image_id, &author).await?;
            made.push(a);
        }
        tx.commit().await?;
        Ok(made)
    }

    /// Takes an assignment back (admins), when nothing was made under it yet.
    pub async fn unassign(&self, id: i64, version: i64, author: &str) -> Result<()> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let a = get_assignment_tx(&mut tx, id).await?;
        check_assignment_version(&a, version)?;
        let (made,) =
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM instances WHERE assignment_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if made > 0 {
            return Err(StoreError::Invalid(format!(
                "{} has made {made} instance(s) under this assignment; it cannot be taken back",
                a.user_name
            )));
        }
        sqlx::query("DELETE FROM assignments WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        log(
            &mut tx,
            a.project_id,
            "assignment",
            id,
            Some(a.image_id),
            "unassign",
            &author,
            &now(),
            a.version + 1,
            Some(to_json(&a)),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn assignment(&self, id: i64) -> Result<Assignment> {
        sqlx::query_as::<_, Assignment>(&format!("{ASSIGNMENT_SELECT} WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "assignment",
                id,
            })
    }

    /// Assignments of a project matching `q`, by image then id.
    pub async fn assignments(
        &self,
        project_id: i64,
        q: &AssignmentQuery,
    ) -> Result<Vec<Assignment>> {
        let mut q_sql = Select::new(ASSIGNMENT_SELECT);
        q_sql.bind(" WHERE a.project_id = ", project_id)?;
        if let Some(i) = q.image_id {
            q_sql.bind(" AND a.image_id = ", i)?;
        }
        if let Some(u) = q.user_id {
            q_sql.bind(" AND a.user_id = ", u)?;
        }
        if let Some(s) = q.state {
            q_sql.bind(" AND a.state = ", s.as_str())?;
        }
        q_sql.push(" ORDER BY a.image_id, a.id");
        q_sql.fetch_all(&self.read).await
    }

    /// Moves an assignment by `action` if `version` is current and the state allows it;
    /// a rejection needs a comment. The image's status follows (the least advanced of
    /// its assignments).
    pub async fn transition(
        &self,
        id: i64,
        version: i64,
        action: WorkAction,
        comment: &str,
        author: &str,
    ) -> Result<Assignment> {
        let author = normalize_author(author);
        let comment = comment.trim();
        if action == WorkAction::Reject && comment.is_empty() {
            return Err(StoreError::Invalid(
                "a rejection needs a comment that tells the annotator what to fix".into(),
            ));
        }
        if comment.chars().count() > 4000 {
            return Err(StoreError::Invalid(
                "the comment is longer than 4000 characters".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let before = get_assignment_tx(&mut tx, id).await?;
        check_assignment_version(&before, version)?;
        let from = before.work_state();
        let Some(to) = action.apply(from) else {
            return Err(StoreError::Invalid(format!(
                "cannot {} work that is {} (image {}, {})",
                action.as_str(),
                from.as_str().replace('_', " "),
                before.image_id,
                before.user_name
            )));
        };
        let after = write_assignment(&mut tx, &before, to, action, comment, &author).await?;
        tx.commit().await?;
        Ok(after)
    }
}

fn check_assignment_version(a: &Assignment, version: i64) -> Result<()> {
    if a.version != version {
        return Err(conflict(
            "assignment",
            a.id,
            version,
            a.version,
            &a.updated_by,
            &a.updated_at,
            a,
        ));
    }
    Ok(())
}

pub(crate) async fn write_assignment(
    tx: &mut Transaction<'_, Any>,
    before: &Assignment,
    to: WorkState,
    action: WorkAction,
    comment: &str,
    author: &str,
) -> Result<Assignment> {
    let at = now();
    // A rejection's comment stays until the next rejection or approval.
    let comment = match action {
        WorkAction::Reject => comment.to_string(),
        WorkAction::Approve => String::new(),
        _ => before.comment.clone(),
    };
    sqlx::query(
        "UPDATE assignments SET state = $1, comment = $2, version = version + 1, updated_at = $3, \
         updated_by = $4 WHERE id = $5",
    )
    .bind(to.as_str())
    .bind(&comment)
    .bind(&at)
    .bind(author)
    .bind(before.id)
    .execute(&mut **tx)
    .await?;
    let after = get_assignment_tx(tx, before.id).await?;
    log(
        tx,
        before.project_id,
        "assignment",
        before.id,
        Some(before.image_id),
        action.as_str(),
        author,
        &at,
        after.version,
        Some(to_json(before)),
        Some(to_json(&after)),
    )
    .await?;
    sync_image_status(tx, before.image_id, author).await?;
    Ok(after)
}

/// The annotator's first change to an assigned (or rejected) image starts the work.
pub(crate) async fn start_on_change(
    tx: &mut Transaction<'_, Any>,
    assignment: &Assignment,
    author: &str,
) -> Result<()> {
    if matches!(
        assignment.work_state(),
        WorkState::Assigned | WorkState::Rejected
    ) {
        write_assignment(
            tx,
            assignment,
            WorkState::InProgress,
            WorkAction::Start,
            "",
            author,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn fresh(
        backend: Backend,
    ) -> Option<(tempfile::TempDir, Store, i64, Vec<Image>, i64, [User; 3])> {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_store(backend, dir.path()).await?;
        let p = store
            .ensure_project("demo", "/tmp/demo", "cli")
            .await
            .unwrap();
        let imgs: Vec<NewImage> = (0..3)
            .map(|i| NewImage {
                path: format!("{i}.png"),
                width: 4,
                height: 3,
                content_hash: format!("h{i}"),
            })
            .collect();
        store.sync_images(p.id, &imgs, "scan").await.unwrap();
        let images = store.list_images(p.id).await.unwrap();
        let cat = store.list_categories(p.id).await.unwrap()[0].id;
        let mk = |n: &'static str, r| {
            let store = store.clone();
            async move {
                store
                    .create_user(p.id, n, r, "password!", "cli")
                    .await
                    .unwrap()
            }
        };
        let users = [
            mk("ada", Role::Admin).await,
            mk("rita", Role::Reviewer).await,
            mk("alan", Role::Annotator).await,
        ];
        Some((dir, store, p.id, images, cat, users))
    }

    fn inst(image: i64, cat: i64) -> NewInstance {
        NewInstance {
            image_id: image,
            category_id: cat,
            rle: json!({"size": [3, 4], "counts": [0, 2, 10]}),
            area: 2,
            bbox: [0.0, 0.0, 1.0, 2.0],
            score: None,
            prompts: json!({}),
            client_id: None,
            attributes: serde_json::Value::Null,
        }
    }

    async fn work_moves_through_review_and_approved_work_is_locked(backend: Backend) {
        let Some((_d, store, pid, images, cat, [_ada, _rita, alan])) = fresh(backend).await else {
            return;
        };
        let img = images[0].id;
        let made = store
            .assign(pid, &[img, images[1].id], alan.id, "ada")
            .await
            .unwrap();
        assert_eq!(made.len(), 2);
        assert!(
            store
                .assign(pid, &[img], alan.id, "ada")
                .await
                .unwrap()
                .is_empty(),
            "kept"
        );
        let a = &made[0];
        assert_eq!(
            (a.state.as_str(), a.user_name.as_str()),
            ("assigned", "alan")
        );

        // The annotator's first instance starts the work and belongs to the assignment.
        let (i, _) = store.create_instance(inst(img, cat), "alan").await.unwrap();
        assert_eq!(i.assignment_id, Some(a.id));
        let a = store.assignment(a.id).await.unwrap();
        assert_eq!(a.state, "in_progress");
        assert_eq!(store.image(img).await.unwrap().status, "in_progress");

        let wrong = store
            .transition(a.id, a.version, WorkAction::Approve, "", "rita")
            .await;
        assert!(
            matches!(wrong, Err(StoreError::Invalid(m)) if m.contains("cannot approve work that is in progress"))
        );
        let a = store
            .transition(a.id, a.version, WorkAction::Submit, "", "alan")
            .await
            .unwrap();
        assert_eq!(store.image(img).await.unwrap().status, "needs_review");
        let no_comment = store
            .transition(a.id, a.version, WorkAction::Reject, " ", "rita")
            .await;
        assert!(matches!(no_comment, Err(StoreError::Invalid(_))));
        let stale = store
            .transition(a.id, a.version - 1, WorkAction::Reject, "x", "rita")
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))));
        let a = store
            .transition(
                a.id,
                a.version,
                WorkAction::Reject,
                "the handle is missing",
                "rita",
            )
            .await
            .unwrap();
        assert_eq!(
            (a.state.as_str(), a.comment.as_str()),
            ("rejected", "the handle is missing")
        );
        // Fixing it restarts the work; the comment stays until the review.
        let i = store
            .update_instance(
                i.id,
                i.version,
                InstancePatch {
                    z: Some(3),
                    ..Default::default()
                },
                "alan",
            )
            .await
            .unwrap();
        let a = store.assignment(a.id).await.unwrap();
        assert_eq!(
            (a.state.as_str(), a.comment.as_str()),
            ("in_progress", "the handle is missing")
        );
        let a = store
            .transition(a.id, a.version, WorkAction::Submit, "", "alan")
            .await
            .unwrap();
        let a = store
            .transition(a.id, a.version, WorkAction::Approve, "", "rita")
            .await
            .unwrap();
        assert_eq!((a.state.as_str(), a.comment.as_str()), ("approved", ""));
        assert_eq!(store.image(img).await.unwrap().status, "done");

        // Approved: nobody changes it, not even a reviewer, until it is reopened.
        for who in ["alan", "rita"] {
            let r = store
                .update_instance(
                    i.id,
                    i.version,
                    InstancePatch {
                        z: Some(4),
                        ..Default::default()
                    },
                    who,
                )
                .await;
            assert!(
                matches!(r, Err(StoreError::Locked(m)) if m.contains("reopen")),
                "{who}"
            );
        }
        assert!(matches!(
            store.create_instance(inst(img, cat), "rita").await,
            Err(StoreError::Locked(_))
        ));
        assert!(matches!(
            store.delete_instance(i.id, i.version, "rita").await,
            Err(StoreError::Locked(_))
        ));
        let a = store
            .transition(a.id, a.version, WorkAction::Reopen, "", "rita")
            .await
            .unwrap();
        assert_eq!(a.state, "in_progress");
        store
            .delete_instance(i.id, i.version, "rita")
            .await
            .unwrap();

        let actions: Vec<String> = store
            .history(
                pid,
                &HistoryQuery {
                    entity: Some("assignment".into()),
                    entity_id: Some(a.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| format!("{}:{}", e.action, e.author))
            .collect();
        assert_eq!(
            actions,
            [
                "assign:ada",
                "start:alan",
                "submit:alan",
                "reject:rita",
                "start:alan",
                "submit:alan",
                "approve:rita",
                "reopen:rita"
            ]
        );
    }

    async fn overlapping_assignments_keep_each_annotators_instances_apart(backend: Backend) {
        let Some((_d, store, pid, images, cat, [_ada, rita, alan])) = fresh(backend).await else {
            return;
        };
        let img = images[2].id;
        let a1 = store
            .assign(pid, &[img], alan.id, "ada")
            .await
            .unwrap()
            .remove(0);
        let a2 = store
            .assign(pid, &[img], rita.id, "ada")
            .await
            .unwrap()
            .remove(0);
        let (i1, _) = store.create_instance(inst(img, cat), "alan").await.unwrap();
        let (i2, _) = store.create_instance(inst(img, cat), "rita").await.unwrap();
        assert_eq!(
            (i1.assignment_id, i2.assignment_id),
            (Some(a1.id), Some(a2.id))
        );
        // The image shows the least advanced work.
        let a1 = store.assignment(a1.id).await.unwrap();
        store
            .transition(a1.id, a1.version, WorkAction::Submit, "", "alan")
            .await
            .unwrap();
        assert_eq!(store.image(img).await.unwrap().status, "in_progress");
        // Work with instances cannot be taken back; fresh work can.
        let a1 = store.assignment(a1.id).await.unwrap();
        assert!(store.unassign(a1.id, a1.version, "ada").await.is_err());
        let a3 = store
            .assign(pid, &[images[0].id], alan.id, "ada")
            .await
            .unwrap()
            .remove(0);
        store.unassign(a3.id, a3.version, "ada").await.unwrap();
        let q = AssignmentQuery {
            user_id: Some(alan.id),
            ..Default::default()
        };
        assert_eq!(store.assignments(pid, &q).await.unwrap().len(), 1);
        let q = AssignmentQuery {
            state: Some(WorkState::Submitted),
            ..Default::default()
        };
        assert_eq!(store.assignments(pid, &q).await.unwrap()[0].id, a1.id);
        let c = store
            .add_comment(i1.id, "too loose at the top", "rita")
            .await
            .unwrap();
        assert_eq!(store.comments(img).await.unwrap(), vec![c]);
    }

    on_both_backends!(
        work_moves_through_review_and_approved_work_is_locked,
        overlapping_assignments_keep_each_annotators_instances_apart
    );
}
