//! `CREATE ROLE name [WITH] [LOGIN | NOLOGIN] [PASSWORD 'p' | PASSWORD NULL]`,
//! `ALTER ROLE name [WITH] …`, `DROP ROLE [IF EXISTS] a, b`, and
//! `GRANT role, … TO name, …` / `REVOKE role, … FROM name, …` of the
//! predefined roles: each becomes the catalog entries that say the roles'
//! new state, stamped now ([`changes`]). sqlparser reads the first three;
//! the GRANT and REVOKE of roles, which it does not, are read here
//! ([`membership`]).

use datafusion::sql::sqlparser::ast::{
    CreateRole, Expr, ObjectType, Password, RoleOption, Statement as Sql, Value,
};

use super::{BOOTSTRAP_USER, PREDEFINED, Role, find, key, verifier};
use crate::error::{Error, Result, sqlstate};
use crate::storage::{CatalogEntry, Store};

/// A change to roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleStatement {
    Create {
        name: String,
        login: bool,
        password: Option<String>,
        if_not_exists: bool,
    },
    Alter {
        name: String,
        login: Option<bool>,
        /// `Some(None)`: PASSWORD NULL.
        password: Option<Option<String>>,
    },
    Drop {
        names: Vec<String>,
        if_exists: bool,
    },
    Grant {
        roles: Vec<String>,
        to: Vec<String>,
    },
    Revoke {
        roles: Vec<String>,
        from: Vec<String>,
    },
}

impl RoleStatement {
    /// The statement without its password, for the audit log.
    pub fn describe(&self) -> String {
        match self {
            RoleStatement::Create { name, login, .. } => {
                format!("CREATE ROLE {name}{}", if *login { " LOGIN" } else { "" })
            }
            RoleStatement::Alter {
                name,
                login,
                password,
            } => format!(
                "ALTER ROLE {name}{}{}",
                login.map_or("", |l| if l { " LOGIN" } else { " NOLOGIN" }),
                if password.is_some() {
                    " PASSWORD …"
                } else {
                    ""
                }
            ),
            RoleStatement::Drop { names, .. } => format!("DROP ROLE {}", names.join(", ")),
            RoleStatement::Grant { roles, to } => {
                format!("GRANT {} TO {}", roles.join(", "), to.join(", "))
            }
            RoleStatement::Revoke { roles, from } => {
                format!("REVOKE {} FROM {}", roles.join(", "), from.join(", "))
            }
        }
    }

    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            RoleStatement::Create { .. } => "CREATE ROLE",
            RoleStatement::Alter { .. } => "ALTER ROLE",
            RoleStatement::Drop { .. } => "DROP ROLE",
            RoleStatement::Grant { .. } => "GRANT ROLE",
            RoleStatement::Revoke { .. } => "REVOKE ROLE",
        }
    }
}

fn syntax(message: String) -> Error {
    Error::new(sqlstate::SYNTAX_ERROR, message)
}

fn password_text(password: &Password) -> Result<Option<String>> {
    match password {
        Password::NullPassword => Ok(None),
        Password::Password(Expr::Value(v)) => match &v.value {
            Value::SingleQuotedString(s) => Ok(Some(s.clone())),
            other => Err(syntax(format!(
                "PASSWORD takes a quoted string, not {other}"
            ))),
        },
        Password::Password(other) => Err(syntax(format!(
            "PASSWORD takes a quoted string, not {other}"
        ))),
    }
}

/// The role statement `sql` is, if it is one.
pub fn from_sql(sql: &Sql) -> Option<Result<RoleStatement>> {
    Some(match sql {
        Sql::CreateRole(create) => create_role(create),
        Sql::AlterRole { name, operation } => {
            use datafusion::sql::sqlparser::ast::AlterRoleOperation;
            let AlterRoleOperation::WithOptions { options } = operation else {
                return Some(Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!(
                        "ALTER ROLE {operation} is not supported: only LOGIN, NOLOGIN and PASSWORD"
                    ),
                )));
            };
            let mut login = None;
            let mut password = None;
            for option in options {
                match option {
                    RoleOption::Login(l) => login = Some(*l),
                    RoleOption::Password(p) => match password_text(p) {
                        Ok(p) => password = Some(p),
                        Err(e) => return Some(Err(e)),
                    },
                    other => {
                        return Some(Err(Error::new(
                            sqlstate::FEATURE_NOT_SUPPORTED,
                            format!(
                                "ALTER ROLE … {other} is not supported: only LOGIN, NOLOGIN and PASSWORD"
                            ),
                        )));
                    }
                }
            }
            Ok(RoleStatement::Alter {
                name: name.value.clone(),
                login,
                password,
            })
        }
        Sql::Drop {
            object_type: ObjectType::Role,
            names,
            if_exists,
            ..
        } => Ok(RoleStatement::Drop {
            names: names
                .iter()
                .map(|n| n.to_string().trim_matches('"').to_string())
                .collect(),
            if_exists: *if_exists,
        }),
        _ => return None,
    })
}

fn create_role(create: &CreateRole) -> Result<RoleStatement> {
    let [name] = create.names.as_slice() else {
        return Err(syntax("CREATE ROLE makes one role at a time".into()));
    };
    let unsupported = create.superuser.is_some()
        || create.create_db.is_some()
        || create.create_role.is_some()
        || create.replication.is_some()
        || create.bypassrls.is_some()
        || !create.in_role.is_empty()
        || !create.role.is_empty()
        || !create.admin.is_empty();
    if unsupported {
        return Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "CREATE ROLE takes LOGIN, NOLOGIN and PASSWORD only; give a role its powers with \
             GRANT pg_read_all_data | pg_write_all_data | stemedb_admin TO it",
        ));
    }
    Ok(RoleStatement::Create {
        name: name.to_string().trim_matches('"').to_string(),
        login: create.login.unwrap_or(false),
        password: match &create.password {
            Some(p) => password_text(p)?,
            None => None,
        },
        if_not_exists: create.if_not_exists,
    })
}

/// `GRANT a, b TO x, y` or `REVOKE a, b FROM x, y` (of roles), which
/// sqlparser does not read; `None` for anything else.
pub fn membership(sql: &str) -> Option<Result<RoleStatement>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let first = text.split_whitespace().next()?.to_ascii_uppercase();
    let (grant, word) = match first.as_str() {
        "GRANT" => (true, " TO "),
        "REVOKE" => (false, " FROM "),
        _ => return None,
    };
    let rest = &text[first.len()..];
    let upper = rest.to_ascii_uppercase();
    let at = upper.find(word)?;
    let names = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|n| n.trim().trim_matches('"').to_string())
            .filter(|n| !n.is_empty())
            .collect()
    };
    let (roles, users) = (names(&rest[..at]), names(&rest[at + word.len()..]));
    // A GRANT of privileges on objects (`GRANT SELECT ON t TO x`) is not
    // a grant of roles: left to the parser, which refuses it.
    let simple = |n: &String| n.chars().all(|c| c.is_alphanumeric() || c == '_');
    if roles.is_empty() || users.is_empty() || !roles.iter().chain(&users).all(simple) {
        return None;
    }
    Some(Ok(match grant {
        true => RoleStatement::Grant { roles, to: users },
        false => RoleStatement::Revoke { roles, from: users },
    }))
}

/// One statement of a text holding grants of roles.
#[derive(Debug)]
pub enum Piece {
    Role(Result<RoleStatement>),
    Sql(String),
}

/// `sql` cut into its statements, when one of them is a GRANT or REVOKE
/// of roles ([`membership`]); `None` otherwise (the parser takes it
/// whole). Semicolons inside quotes and comments do not cut.
pub fn pieces(sql: &str) -> Option<Vec<Piece>> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("grant") && !lower.contains("revoke") {
        return None;
    }
    let mut statements = Vec::new();
    let (mut start, mut quote, mut chars) = (0, None, sql.char_indices().peekable());
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '-') if chars.peek().is_some_and(|(_, n)| *n == '-') => {
                // A comment to the end of the line.
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (None, ';') => {
                statements.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    statements.push(&sql[start..]);
    let statements: Vec<&str> = statements
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    let pieces: Vec<Piece> = statements
        .iter()
        .map(|s| match membership(s) {
            Some(role) => Piece::Role(role),
            None => Piece::Sql(s.to_string()),
        })
        .collect();
    pieces
        .iter()
        .any(|p| matches!(p, Piece::Role(_)))
        .then_some(pieces)
}

fn missing(name: &str) -> Error {
    Error::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("role \"{name}\" does not exist"),
    )
}

fn reserved(name: &str) -> Error {
    Error::new(
        "42939",
        format!("role name \"{name}\" is reserved (a predefined role or the bootstrap user)"),
    )
}

fn existing(store: &Store, name: &str) -> Result<Role> {
    find(store, name)?.ok_or_else(|| missing(name))
}

/// The catalog entries `statement` makes, stamped now.
pub fn changes(store: &Store, statement: &RoleStatement) -> Result<Vec<CatalogEntry>> {
    let now = store.clock().now();
    let put = |role: &Role| CatalogEntry {
        key: key(&role.name),
        hlc: now,
        value: Some(role.encode()),
    };
    let is_reserved =
        |n: &str| n == BOOTSTRAP_USER || PREDEFINED.contains(&n) || n.starts_with("pg_");
    match statement {
        RoleStatement::Create {
            name,
            login,
            password,
            if_not_exists,
        } => {
            if is_reserved(name) {
                return Err(reserved(name));
            }
            if find(store, name)?.is_some() {
                if *if_not_exists {
                    return Ok(vec![]);
                }
                return Err(Error::new(
                    "42710",
                    format!("role \"{name}\" already exists"),
                ));
            }
            let role = Role {
                name: name.clone(),
                login: *login,
                verifier: password.as_deref().map(verifier).transpose()?,
                member_of: Default::default(),
            };
            Ok(vec![put(&role)])
        }
        RoleStatement::Alter {
            name,
            login,
            password,
        } => {
            if is_reserved(name) {
                return Err(reserved(name));
            }
            let mut role = existing(store, name)?;
            if let Some(login) = login {
                role.login = *login;
            }
            if let Some(password) = password {
                role.verifier = password.as_deref().map(verifier).transpose()?;
            }
            Ok(vec![put(&role)])
        }
        RoleStatement::Drop { names, if_exists } => {
            let mut out = Vec::new();
            for name in names {
                if is_reserved(name) {
                    return Err(reserved(name));
                }
                match find(store, name)? {
                    Some(_) => out.push(CatalogEntry {
                        key: key(name),
                        hlc: now,
                        value: None,
                    }),
                    None if *if_exists => {}
                    None => return Err(missing(name)),
                }
            }
            Ok(out)
        }
        RoleStatement::Grant { roles, to: users }
        | RoleStatement::Revoke { roles, from: users } => {
            let grant = matches!(statement, RoleStatement::Grant { .. });
            if let Some(unknown) = roles.iter().find(|r| !PREDEFINED.contains(&r.as_str())) {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!(
                        "only the predefined roles are granted ({}), not \"{unknown}\"",
                        PREDEFINED.join(", ")
                    ),
                ));
            }
            let mut out = Vec::new();
            for user in users {
                if user == BOOTSTRAP_USER {
                    // A superuser already holds every role.
                    continue;
                }
                let mut role = existing(store, user)?;
                for r in roles {
                    match grant {
                        true => role.member_of.insert(r.clone()),
                        false => role.member_of.remove(r),
                    };
                }
                out.push(put(&role));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_and_revokes_of_roles_are_read_and_object_grants_are_not() {
        assert_eq!(
            membership("GRANT pg_read_all_data, stemedb_admin TO alice, \"bob\";")
                .unwrap()
                .unwrap(),
            RoleStatement::Grant {
                roles: vec!["pg_read_all_data".into(), "stemedb_admin".into()],
                to: vec!["alice".into(), "bob".into()],
            }
        );
        assert_eq!(
            membership("revoke pg_write_all_data from carol")
                .unwrap()
                .unwrap(),
            RoleStatement::Revoke {
                roles: vec!["pg_write_all_data".into()],
                from: vec!["carol".into()],
            }
        );
        assert!(membership("GRANT SELECT ON assertions TO alice").is_none());
        assert!(membership("SELECT 1").is_none());
    }
}
