//! What an operator standing up a pilot does, done for real: the Debian
//! package installed into a scratch root and the DR runbook run there as
//! written (`package`).

mod package;
