//! The statements that define schemas and views, and the catalog changes
//! each makes ([`changes`]): checked against the definitions as they are
//! (a view needs its schema; a schema with views drops only with CASCADE;
//! no name is taken twice; the seven tables are not views).

use datafusion::sql::sqlparser::ast::{
    Action, AlterSchemaOperation, AlterTableOperation, GrantObjects, Grantee, GranteeName, Ident,
    ObjectName, ObjectNamePart, ObjectType, Privileges, Query, SchemaName, Statement as Sql,
};

use super::{DATABASE, Definitions, PUBLIC, View, creator_key, entry, schema_key, view_key};
use crate::error::{Error, Result, sqlstate};
use crate::planner::read::tables::TABLE_NAMES;
use crate::storage::{CatalogEntry, Store};

/// A name as PostgreSQL folds it: unquoted identifiers in lower case.
fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect()
}

fn other_database(database: &str) -> Error {
    Error::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!("cross-database references are not implemented: \"{database}\""),
    )
}

fn improper(name: &ObjectName) -> Error {
    Error::new(
        "42601",
        format!("improper qualified name (too many dotted names): {name}"),
    )
}

/// `[stemedb.][schema.]name` → (schema, name); `public` when unqualified.
pub fn qualified(name: &ObjectName) -> Result<(String, String)> {
    match parts(name).as_slice() {
        [name] => Ok((PUBLIC.into(), name.clone())),
        [schema, name] => Ok((schema.clone(), name.clone())),
        [database, schema, name] if database == DATABASE => Ok((schema.clone(), name.clone())),
        [database, _, _] => Err(other_database(database)),
        _ => Err(improper(name)),
    }
}

/// A schema's name: `s` or `stemedb.s`.
fn schema_name_of(name: &ObjectName) -> Result<String> {
    match parts(name).as_slice() {
        [schema] => Ok(schema.clone()),
        [database, schema] if database == DATABASE => Ok(schema.clone()),
        [database, _] => Err(other_database(database)),
        _ => Err(improper(name)),
    }
}

#[derive(Debug, Clone)]
pub enum DefinitionStatement {
    CreateSchema {
        name: String,
        if_not_exists: bool,
    },
    DropSchemas {
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
    RenameSchema {
        from: String,
        to: String,
    },
    CreateView {
        schema: String,
        name: String,
        or_replace: bool,
        columns: Vec<String>,
        query: Box<Query>,
    },
    DropViews {
        names: Vec<(String, String)>,
        if_exists: bool,
    },
    /// `DROP TABLE IF EXISTS` of what is not there (dbt clears away a
    /// backup that may have been a table): nothing to do; of a view or one
    /// of the seven tables, refused.
    DropTables {
        names: Vec<(String, String)>,
        if_exists: bool,
    },
    /// `GRANT` / `REVOKE CREATE ON SCHEMA s TO|FROM roles`: who may
    /// define views there besides `stemedb_admin`.
    SchemaCreate {
        schema: String,
        roles: Vec<String>,
        grant: bool,
    },
    /// `ALTER VIEW … RENAME TO` (or `ALTER TABLE`, as dbt writes it).
    RenameView {
        schema: String,
        from: String,
        to: String,
    },
}

impl DefinitionStatement {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::CreateSchema { .. } => "CREATE SCHEMA",
            Self::DropSchemas { .. } => "DROP SCHEMA",
            Self::RenameSchema { .. } => "ALTER SCHEMA",
            Self::CreateView { .. } => "CREATE VIEW",
            Self::DropViews { .. } => "DROP VIEW",
            Self::DropTables { .. } => "DROP TABLE",
            Self::SchemaCreate { grant: true, .. } => "GRANT",
            Self::SchemaCreate { grant: false, .. } => "REVOKE",
            Self::RenameView { .. } => "ALTER VIEW",
        }
    }

    /// The schema whose privileges the statement needs.
    pub fn schema(&self) -> &str {
        match self {
            Self::CreateSchema { name, .. } | Self::RenameSchema { from: name, .. } => name,
            Self::SchemaCreate { schema, .. } => schema,
            Self::DropSchemas { names, .. } => names.first().map_or(PUBLIC, String::as_str),
            Self::CreateView { schema, .. } | Self::RenameView { schema, .. } => schema,
            Self::DropViews { names, .. } | Self::DropTables { names, .. } => {
                names.first().map_or(PUBLIC, |(s, _)| s.as_str())
            }
        }
    }
}

/// The statement, if it defines schemas or views; `None` for any other.
pub fn from_sql(sql: &Sql) -> Option<Result<DefinitionStatement>> {
    Some(match sql {
        Sql::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => match schema_name {
            SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
                schema_name_of(name).map(|name| DefinitionStatement::CreateSchema {
                    name,
                    if_not_exists: *if_not_exists,
                })
            }
            SchemaName::UnnamedAuthorization(user) => Ok(DefinitionStatement::CreateSchema {
                name: ident(user),
                if_not_exists: *if_not_exists,
            }),
        },
        Sql::CreateView(view) => {
            if view.materialized {
                return Some(Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "CREATE MATERIALIZED VIEW is not supported: a view is planned over the \
                     lenses each time it is read (use CREATE VIEW; dbt: materialized='view')",
                )));
            }
            qualified(&view.name).map(|(schema, name)| DefinitionStatement::CreateView {
                schema,
                name,
                or_replace: view.or_replace,
                columns: view.columns.iter().map(|c| ident(&c.name)).collect(),
                query: view.query.clone(),
            })
        }
        Sql::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            ..
        } => names
            .iter()
            .map(qualified)
            .collect::<Result<Vec<_>>>()
            .map(|names| DefinitionStatement::DropTables {
                names,
                if_exists: *if_exists,
            }),
        Sql::Drop {
            object_type: object_type @ (ObjectType::Schema | ObjectType::View),
            if_exists,
            names,
            cascade,
            ..
        } => {
            if *object_type == ObjectType::Schema {
                names
                    .iter()
                    .map(schema_name_of)
                    .collect::<Result<Vec<_>>>()
                    .map(|names| DefinitionStatement::DropSchemas {
                        names,
                        if_exists: *if_exists,
                        cascade: *cascade,
                    })
            } else {
                names
                    .iter()
                    .map(qualified)
                    .collect::<Result<Vec<_>>>()
                    .map(|names| DefinitionStatement::DropViews {
                        names,
                        if_exists: *if_exists,
                    })
            }
        }
        Sql::Grant(grant) => {
            return schema_create(
                &grant.privileges,
                grant.objects.as_ref(),
                &grant.grantees,
                true,
            );
        }
        Sql::Revoke(revoke) => {
            return schema_create(
                &revoke.privileges,
                revoke.objects.as_ref(),
                &revoke.grantees,
                false,
            );
        }
        Sql::AlterSchema(alter) => match alter.operations.as_slice() {
            [AlterSchemaOperation::Rename { name }] => {
                schema_name_of(&alter.name).and_then(|from| {
                    schema_name_of(name).map(|to| DefinitionStatement::RenameSchema { from, to })
                })
            }
            _ => Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "ALTER SCHEMA supports only RENAME TO",
            )),
        },
        Sql::AlterTable(alter) => match alter.operations.as_slice() {
            [AlterTableOperation::RenameTable { table_name }] => {
                let to = match table_name {
                    datafusion::sql::sqlparser::ast::RenameTableNameKind::As(n)
                    | datafusion::sql::sqlparser::ast::RenameTableNameKind::To(n) => n,
                };
                qualified(&alter.name).and_then(|(schema, from)| {
                    qualified(to).map(|(_, to)| DefinitionStatement::RenameView {
                        schema,
                        from,
                        to,
                    })
                })
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// `CREATE ON SCHEMA s` granted to or revoked from roles; `None` for any
/// other privilege (refused elsewhere, saying what StemeDB grants).
fn schema_create(
    privileges: &Privileges,
    objects: Option<&GrantObjects>,
    grantees: &[Grantee],
    grant: bool,
) -> Option<Result<DefinitionStatement>> {
    let Privileges::Actions(actions) = privileges else {
        return None;
    };
    let [Action::Create { obj_type: None }] = actions.as_slice() else {
        return None;
    };
    let Some(GrantObjects::Schemas(schemas)) = objects else {
        return None;
    };
    let [schema] = schemas.as_slice() else {
        return Some(Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "GRANT CREATE takes one schema at a time",
        )));
    };
    let roles = grantees
        .iter()
        .filter_map(|g| match &g.name {
            Some(GranteeName::ObjectName(name)) => parts(name).pop(),
            _ => None,
        })
        .collect();
    Some(
        schema_name_of(schema).map(|schema| DefinitionStatement::SchemaCreate {
            schema,
            roles,
            grant,
        }),
    )
}

fn exists(what: &str, name: &str) -> Error {
    Error::new("42P06", format!("{what} \"{name}\" already exists"))
}

fn no_schema(name: &str) -> Error {
    Error::new("3F000", format!("schema \"{name}\" does not exist"))
}

fn no_view(schema: &str, name: &str) -> Error {
    Error::new(
        "42P01",
        format!("view \"{}\" does not exist", display(schema, name)),
    )
}

fn display(schema: &str, name: &str) -> String {
    if schema == PUBLIC {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

/// The seven tables' names are not free in `public`.
fn check_free(schema: &str, name: &str) -> Result<()> {
    if schema == PUBLIC && TABLE_NAMES.contains(&name) {
        return Err(Error::new(
            "42809",
            format!("\"{name}\" is one of StemeDB's tables, not a view: choose another name"),
        ));
    }
    Ok(())
}

/// The catalog entries `statement` makes. `query` is the view's query as
/// text (the caller has planned it: it reads only what exists).
pub fn changes(
    store: &Store,
    defs: &Definitions,
    statement: &DefinitionStatement,
    owner: &str,
) -> Result<Vec<CatalogEntry>> {
    let put_view = |schema: &str, name: &str, view: &View| {
        let json = serde_json::to_vec(view).map_err(|e| Error::internal(e.to_string()))?;
        Ok::<_, Error>(entry(store, view_key(schema, name), Some(json)))
    };
    let mut out = Vec::new();
    match statement {
        DefinitionStatement::CreateSchema {
            name,
            if_not_exists,
        } => {
            if defs.has_schema(name) || name == "pg_catalog" || name == "information_schema" {
                if *if_not_exists {
                    return Ok(out);
                }
                return Err(exists("schema", name));
            }
            out.push(entry(store, schema_key(name), Some(b"{}".to_vec())));
        }
        DefinitionStatement::DropSchemas {
            names,
            if_exists,
            cascade,
        } => {
            for name in names {
                if name == PUBLIC {
                    return Err(Error::new(
                        "2BP01",
                        "cannot drop schema public: it holds StemeDB's tables",
                    ));
                }
                if !defs.schemas.contains(name) {
                    if *if_exists {
                        continue;
                    }
                    return Err(no_schema(name));
                }
                let views: Vec<&str> = defs.views_in(name).map(|(n, _)| n).collect();
                if !views.is_empty() && !cascade {
                    return Err(Error::new(
                        "2BP01",
                        format!(
                            "cannot drop schema {name} because other objects depend on it: \
                             views {}; use DROP SCHEMA … CASCADE to drop them too",
                            views.join(", ")
                        ),
                    ));
                }
                for view in views {
                    out.push(entry(store, view_key(name, view), None));
                }
                for (_, role) in defs.creators.iter().filter(|(s, _)| s == name) {
                    out.push(entry(store, creator_key(name, role), None));
                }
                out.push(entry(store, schema_key(name), None));
            }
        }
        DefinitionStatement::RenameSchema { from, to } => {
            if from == PUBLIC || !defs.schemas.contains(from) {
                return Err(no_schema(from));
            }
            if defs.has_schema(to) {
                return Err(exists("schema", to));
            }
            for (name, view) in defs.views_in(from) {
                out.push(entry(store, view_key(from, name), None));
                out.push(put_view(to, name, view)?);
            }
            out.push(entry(store, schema_key(from), None));
            out.push(entry(store, schema_key(to), Some(b"{}".to_vec())));
        }
        DefinitionStatement::CreateView {
            schema,
            name,
            or_replace,
            columns,
            query,
        } => {
            if !defs.has_schema(schema) {
                return Err(no_schema(schema));
            }
            check_free(schema, name)?;
            if defs.view(schema, name).is_some() && !or_replace {
                return Err(exists("relation", &display(schema, name)));
            }
            let view = View {
                query: query.to_string(),
                columns: columns.clone(),
                owner: owner.to_string(),
            };
            out.push(put_view(schema, name, &view)?);
        }
        DefinitionStatement::DropViews { names, if_exists } => {
            for (schema, name) in names {
                if defs.view(schema, name).is_none() {
                    if *if_exists {
                        continue;
                    }
                    check_free(schema, name)?;
                    return Err(no_view(schema, name));
                }
                out.push(entry(store, view_key(schema, name), None));
            }
        }
        DefinitionStatement::SchemaCreate {
            schema,
            roles,
            grant,
        } => {
            if !defs.has_schema(schema) {
                return Err(no_schema(schema));
            }
            for role in roles {
                if crate::planner::roles::find(store, role)?.is_none() {
                    return Err(Error::new(
                        "42704",
                        format!("role \"{role}\" does not exist"),
                    ));
                }
                let value = grant.then(|| b"{}".to_vec());
                out.push(entry(store, creator_key(schema, role), value));
            }
        }
        DefinitionStatement::DropTables { names, if_exists } => {
            for (schema, name) in names {
                if schema == PUBLIC && TABLE_NAMES.contains(&name.as_str()) {
                    return Err(Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!(
                            "cannot drop \"{name}\": StemeDB's tables are fixed, and claims are never deleted"
                        ),
                    ));
                }
                if defs.view(schema, name).is_some() {
                    return Err(Error::new(
                        "42809",
                        format!(
                            "\"{}\" is not a table: use DROP VIEW",
                            display(schema, name)
                        ),
                    ));
                }
                if !if_exists {
                    return Err(Error::new(
                        "42P01",
                        format!("table \"{}\" does not exist", display(schema, name)),
                    ));
                }
            }
        }
        DefinitionStatement::RenameView { schema, from, to } => {
            let Some(view) = defs.view(schema, from) else {
                check_free(schema, from)?;
                return Err(no_view(schema, from));
            };
            check_free(schema, to)?;
            if defs.view(schema, to).is_some() {
                return Err(exists("relation", &display(schema, to)));
            }
            out.push(entry(store, view_key(schema, from), None));
            out.push(put_view(schema, to, view)?);
        }
    }
    Ok(out)
}
