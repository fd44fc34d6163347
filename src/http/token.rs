//! The admin port's bearer token (`http_token_file`): every path but
//! `/health` and `/ready` (load balancers' checks) needs
//! `Authorization: Bearer <token>` while one is set. The file is read at
//! start and again on a reload (SIGHUP, `stemedb_reload_config()`), so a
//! token is replaced without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};

/// Paths anyone may ask for.
const OPEN: &[&str] = &["/health", "/ready"];

/// The token in force (none: the port is open, only allowed on loopback).
#[derive(Default)]
pub struct Token {
    file: Option<PathBuf>,
    current: RwLock<Option<String>>,
}

impl Token {
    /// The token of `file`, read now.
    pub fn from_file(file: Option<&Path>) -> Result<Arc<Token>> {
        let token = Token {
            file: file.map(Path::to_path_buf),
            current: RwLock::default(),
        };
        token.reload()?;
        Ok(Arc::new(token))
    }

    /// Reads the file again; a file that cannot be read, or is empty,
    /// leaves the token in force and is an error.
    pub fn reload(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let read = read_token(file)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(read);
        Ok(())
    }

    fn admits(&self, presented: Option<&str>) -> bool {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        match (current.as_deref(), presented) {
            (None, _) => true,
            // Compared in constant time: blake3 hashes compare so.
            (Some(token), Some(given)) => {
                blake3::hash(token.as_bytes()) == blake3::hash(given.as_bytes())
            }
            (Some(_), None) => false,
        }
    }
}

/// The token a file holds (surrounding whitespace dropped).
pub fn read_token(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::internal(format!("http_token_file {}: {e}", file.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::internal(format!(
            "http_token_file {} is empty",
            file.display()
        )));
    }
    Ok(token.to_string())
}

/// Lets a request through when its path is open or it carries the token.
pub async fn guard(State(token): State<Arc<Token>>, request: Request, next: Next) -> Response {
    if OPEN.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.admits(presented) {
        true => next.run(request).await,
        false => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this path needs Authorization: Bearer <the token of http_token_file>\n",
        )
            .into_response(),
    }
}
