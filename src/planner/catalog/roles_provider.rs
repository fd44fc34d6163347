//! The roles `pg_roles` lists (so psql's `\du` shows them): the bootstrap
//! superuser, the predefined roles and every role of the catalog
//! ([`crate::planner::roles`]) — never a password or verifier.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};

use crate::planner::roles::{self, BOOTSTRAP_USER, PREDEFINED};
use crate::storage::Store;

#[derive(Clone)]
pub struct Roles(pub Arc<Store>);

impl std::fmt::Debug for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Roles")
    }
}

fn role(name: &str, superuser: bool, login: bool, member_of: Vec<String>) -> Role {
    Role {
        name: name.to_string(),
        is_superuser: superuser,
        can_login: login,
        can_create_db: false,
        can_create_role: superuser,
        can_create_user: superuser,
        can_replication: false,
        grants: Vec::new(),
        inherited_roles: member_of,
    }
}

#[async_trait]
impl PgCatalogContextProvider for Roles {
    async fn roles(&self) -> Vec<String> {
        let mut names: Vec<String> = std::iter::once(BOOTSTRAP_USER.to_string())
            .chain(PREDEFINED.iter().map(|r| r.to_string()))
            .chain(
                roles::all(&self.0)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.name),
            )
            .collect();
        names.sort();
        names
    }

    async fn role(&self, name: &str) -> Option<Role> {
        if name == BOOTSTRAP_USER {
            return Some(role(name, true, true, vec![]));
        }
        if PREDEFINED.contains(&name) {
            return Some(role(name, false, false, vec![]));
        }
        let found = roles::find(&self.0, name).ok().flatten()?;
        Some(role(
            name,
            false,
            found.login,
            found.member_of.into_iter().collect(),
        ))
    }
}
