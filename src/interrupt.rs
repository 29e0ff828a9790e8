//! SIGINT, SIGTERM and SIGHUP end a command the same way, for every command (the handler
//! is installed once, in cli.rs). A command with cleanup of its own (stage, unstage,
//! prepare: a helper pod, a temporary folder) says so with [`cleans_up_itself`]: a signal
//! then only sets a flag, the step that runs stops (a running kubectl is killed), and the
//! cleanup still runs. Any other command exits at once with 130, as a shell reports Ctrl-C,
//! except while it holds a [`Hold`] (a file being written beside its final name): then it
//! exits as the hold ends, after the temporary file is gone or renamed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::{Code, Error, Result};

/// Set by the signal handler; steps check it and stop, cleanup still runs.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The command stops at its own checks and cleans up: never exit from the handler.
static SELF_CLEANING: AtomicBool = AtomicBool::new(false);
/// Writes under way that a signal must not cut in half.
static HOLDING: AtomicUsize = AtomicUsize::new(0);

/// Exit code of a command stopped by a signal.
const EXIT_INTERRUPTED: i32 = 130;

/// Installs the handler once. kubectl children in our process group get a terminal's
/// SIGINT too; cleanup calls run in their own process group so they finish.
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| {
        // The order of these two (and of the two in `hold`) means one side always sees
        // the other: either the writer exits when its hold ends, or we exit before it
        // starts.
        INTERRUPTED.store(true, Ordering::SeqCst);
        if !SELF_CLEANING.load(Ordering::SeqCst) && HOLDING.load(Ordering::SeqCst) == 0 {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

/// The command handles an interrupt itself: it checks [`check`] and cleans up.
pub fn cleans_up_itself() {
    SELF_CLEANING.store(true, Ordering::SeqCst);
}

/// While alive, a signal waits: the write finishes (or its temporary file is removed) first.
pub struct Hold(());

pub fn hold() -> Hold {
    HOLDING.fetch_add(1, Ordering::SeqCst);
    if INTERRUPTED.load(Ordering::SeqCst) && !SELF_CLEANING.load(Ordering::SeqCst) {
        // Interrupted: start no new write. If another thread's write is under way, its
        // hold's end exits the process; wait for it here.
        if HOLDING.fetch_sub(1, Ordering::SeqCst) == 1 {
            std::process::exit(EXIT_INTERRUPTED);
        }
        loop {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Hold(())
}

impl Drop for Hold {
    fn drop(&mut self) {
        let last = HOLDING.fetch_sub(1, Ordering::SeqCst) == 1;
        if last && INTERRUPTED.load(Ordering::SeqCst) && !SELF_CLEANING.load(Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
    }
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
