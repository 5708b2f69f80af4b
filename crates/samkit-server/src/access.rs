//! Who may call which endpoint: one table, read by the authorisation middleware and by
//! the table-driven test that calls every endpoint as every role.
//!
//! An endpoint missing from the table is refused to everyone but admins (fail closed),
//! so a new route is never open by accident.

use samkit_store::Role;

/// What a request to an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the log-in itself, the session probe, the health check.
    Public,
    /// A signed-in user of one of these roles (the one-person local token is an admin).
    Roles(&'static [Role]),
}

const ALL: &[Role] = &[Role::Admin, Role::Reviewer, Role::Annotator];
const REVIEW: &[Role] = &[Role::Admin, Role::Reviewer];
const ADMIN: &[Role] = &[Role::Admin];

/// `(method, route as in the router, need)`, every `/api` route.
pub const RULES: &[(&str, &str, Need)] = &[
    ("GET", "/api/health", Need::Public),
    ("GET", "/api/session", Need::Public),
    ("POST", "/api/login", Need::Public),
    ("POST", "/api/logout", Need::Roles(ALL)),
    ("GET", "/api/users", Need::Roles(ADMIN)),
    ("POST", "/api/users", Need::Roles(ADMIN)),
    ("PATCH", "/api/users/{id}", Need::Roles(ADMIN)),
    ("GET", "/api/project", Need::Roles(ALL)),
    ("PUT", "/api/project/guidelines", Need::Roles(ADMIN)),
    ("POST", "/api/rescan", Need::Roles(ADMIN)),
    ("GET", "/api/images", Need::Roles(ALL)),
    ("GET", "/api/images/{id}", Need::Roles(ALL)),
    ("GET", "/api/images/{id}/file", Need::Roles(ALL)),
    ("GET", "/api/images/{id}/thumb", Need::Roles(ALL)),
    // With accounts the review workflow moves an annotator's images along.
    ("PUT", "/api/images/{id}/status", Need::Roles(REVIEW)),
    ("GET", "/api/images/{id}/window", Need::Roles(ALL)),
    ("PUT", "/api/images/{id}/window", Need::Roles(ALL)),
    ("POST", "/api/images/{id}/embed", Need::Roles(ALL)),
    ("GET", "/api/embeddings", Need::Roles(ALL)),
    ("POST", "/api/images/{id}/predict", Need::Roles(ALL)),
    ("POST", "/api/images/{id}/propagate", Need::Roles(ALL)),
    ("POST", "/api/images/{id}/outline", Need::Roles(ALL)),
    ("POST", "/api/images/{id}/auto", Need::Roles(ALL)),
    ("GET", "/api/images/{id}/auto", Need::Roles(ALL)),
    ("DELETE", "/api/images/{id}/auto", Need::Roles(ALL)),
    ("GET", "/api/images/{id}/instances", Need::Roles(ALL)),
    ("POST", "/api/images/{id}/instances", Need::Roles(ALL)),
    ("GET", "/api/instances/{id}", Need::Roles(ALL)),
    ("PATCH", "/api/instances/{id}", Need::Roles(ALL)),
    ("DELETE", "/api/instances/{id}", Need::Roles(ALL)),
    ("POST", "/api/instances/{id}/restore", Need::Roles(ALL)),
    ("GET", "/api/categories", Need::Roles(ALL)),
    ("POST", "/api/categories", Need::Roles(ADMIN)),
    ("PUT", "/api/categories/order", Need::Roles(ADMIN)),
    ("PATCH", "/api/categories/{id}", Need::Roles(ADMIN)),
    ("DELETE", "/api/categories/{id}", Need::Roles(ADMIN)),
    ("POST", "/api/instances/{id}/comments", Need::Roles(ALL)),
    ("GET", "/api/images/{id}/comments", Need::Roles(ALL)),
    // Annotators see their own assignments; reviewers and admins everyone's.
    ("GET", "/api/assignments", Need::Roles(ALL)),
    ("POST", "/api/assignments", Need::Roles(ADMIN)),
    ("DELETE", "/api/assignments/{id}", Need::Roles(ADMIN)),
    // The assignee starts and submits, reviewers approve, reject and reopen: the handler
    // checks which.
    ("POST", "/api/assignments/{id}/{action}", Need::Roles(ALL)),
    ("GET", "/api/report", Need::Roles(REVIEW)),
    ("GET", "/api/history", Need::Roles(ALL)),
    // Restoring a category's or the project's past state is an admin's change; the
    // handler checks the entry's entity (instances and image status: anyone).
    ("POST", "/api/history/{id}/restore", Need::Roles(ALL)),
    ("GET", "/api/export", Need::Roles(REVIEW)),
    ("POST", "/api/import", Need::Roles(ADMIN)),
];

/// What `method` on the route `route` (the router's pattern, e.g. `/api/images/{id}`)
/// needs.
pub fn need(method: &str, route: &str) -> Need {
    RULES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map_or(Need::Roles(ADMIN), |(_, _, n)| *n)
}

/// Whether `role` may do what `need` asks.
pub fn allows(need: Need, role: Role) -> bool {
    match need {
        Need::Public => true,
        Need::Roles(roles) => roles.contains(&role),
    }
}

/// The roles allowed, for a refusal's message ("admin or reviewer").
pub fn who(need: Need) -> String {
    match need {
        Need::Public => "anyone".into(),
        Need::Roles(roles) => roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_routes_are_admin_only_and_rules_are_unique() {
        assert_eq!(need("GET", "/api/new-thing"), Need::Roles(ADMIN));
        assert_eq!(need("POST", "/api/health"), Need::Roles(ADMIN));
        for (i, (m, r, _)) in RULES.iter().enumerate() {
            assert!(
                !RULES[..i].iter().any(|(m2, r2, _)| m2 == m && r2 == r),
                "{m} {r} listed twice"
            );
        }
        assert!(!allows(
            need("PUT", "/api/project/guidelines"),
            Role::Reviewer
        ));
        assert!(allows(need("GET", "/api/export"), Role::Reviewer));
        assert!(!allows(need("GET", "/api/export"), Role::Annotator));
    }
}
