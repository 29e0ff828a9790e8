//! A child process that cannot make us wait or allocate without bound: its output is read
//! on threads up to a cap, and it is killed when its deadline passes, its output
//! overflows, or the user interrupts. kubectl and Docker credential helpers run this way.

use std::io::Read;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::interrupt::INTERRUPTED;

/// How a bounded child ended.
pub enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Overflowed,
    Interrupted,
}

/// Waits for `child` until `deadline`; kills it (its whole group when it has its own)
/// when the deadline passes, its output overflows, or the user interrupts a step.
pub(crate) fn wait_bounded(
    child: &mut Child,
    deadline: Instant,
    own_group: bool,
    overflow: &AtomicBool,
) -> std::io::Result<Ended> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ended::Exited(status));
        }
        let why = if Instant::now() >= deadline {
            Some(Ended::TimedOut)
        } else if overflow.load(Ordering::SeqCst) {
            Some(Ended::Overflowed)
        } else if !own_group && INTERRUPTED.load(Ordering::SeqCst) {
            Some(Ended::Interrupted)
        } else {
            None
        };
        if let Some(why) = why {
            if own_group {
                // SAFETY: signals the process group we created for this child only.
                unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok(why);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Reads a pipe on a thread, keeping at most `cap` bytes; past it sets `overflow` and
/// stops reading. The bytes arrive on the returned channel when the pipe closes.
pub(crate) fn read_capped(
    pipe: Option<impl Read + Send + 'static>,
    cap: usize,
    overflow: &Arc<AtomicBool>,
) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    let overflow = Arc::clone(overflow);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(pipe) = pipe {
            let mut limited = pipe.take(cap as u64 + 1);
            let _ = limited.read_to_end(&mut kept);
            if kept.len() > cap {
                kept.truncate(cap);
                overflow.store(true, Ordering::SeqCst);
            }
        }
        let _ = tx.send(kept);
    });
    rx
}
