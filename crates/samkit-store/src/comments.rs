//! Review comments on instances ("the tail is missing"), shown on the canvas next to the
//! instance. Appended, never edited; each is a history entry.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Comment {
    pub id: i64,
    pub image_id: i64,
    pub instance_id: i64,
    pub text: String,
    pub author: String,
    pub created_at: String,
}

impl Store {
    /// Comments on the instances of an image, oldest first.
    pub async fn comments(&self, image_id: i64) -> Result<Vec<Comment>> {
        Ok(
            sqlx::query_as::<_, Comment>("SELECT * FROM comments WHERE image_id = $1 ORDER BY id")
                .bind(image_id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Adds a comment on instance `instance_id`.
    pub async fn add_comment(&self, instance_id: i64, text: &str, author: &str) -> Result<Comment> {
        let author = normalize_author(author);
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 4000 {
            return Err(StoreError::Invalid(
                "a comment must be 1 to 4000 characters".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let inst = get_instance_tx(&mut tx, instance_id).await?;
        let image = get_image_tx(&mut tx, inst.image_id).await?;
        let at = now();
        let c = sqlx::query_as::<_, Comment>(
            "INSERT INTO comments (image_id, instance_id, text, author, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(inst.image_id)
        .bind(instance_id)
        .bind(text)
        .bind(&author)
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        log(
            &mut tx,
            image.project_id,
            "comment",
            c.id,
            Some(inst.image_id),
            "create",
            &author,
            &at,
            1,
            None,
            Some(to_json(&c)),
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }
}
