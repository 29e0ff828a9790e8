//! SIGINT, SIGTERM and SIGHUP end a command the same way: a flag is set, the step that
//! runs stops (a running kubectl is killed), and cleanup still runs: the helper pod is
//! deleted, temporary folders are removed. Exit code 130, as a shell reports Ctrl-C.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Code, Error, Result};

/// Set by the signal handler; steps check it and stop, cleanup still runs.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler once. kubectl children in our process group get a terminal's
/// SIGINT too; cleanup calls run in their own process group so they finish.
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

pub fn interrupted() -> Error {
    Error::new(
        Code::Interrupted,
        "Interrupted.",
        "Nothing is left running; run the command again when ready.",
    )
}

/// An INTERRUPTED error once a signal has arrived.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(interrupted());
    }
    Ok(())
}
