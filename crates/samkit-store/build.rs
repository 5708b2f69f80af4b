//! `sqlx::migrate!` embeds `migrations/` at compile time but does not tell cargo: without
//! this, a new migration file is not built in until a source file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
