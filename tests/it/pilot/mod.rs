//! What an operator standing up a pilot does, done for real: the Debian
//! package installed into a scratch root and the DR runbook run there as
//! written (`package`); docs/deploy.md followed on three hosts (`guide`);
//! a rolling upgrade under writes (`upgrade`).

mod guide;
mod package;
mod scratch;
mod upgrade;
