//! The prepared output folder (`prepare --output`): opening and checking it, its marker
//! (this folder is an output of ours, so a later prepare may replace it), and the record
//! `stage` keeps in it of what is staged where. Read by prepare, stage, unstage and verify;
//! it imports none of them.

pub mod fingerprint;
pub mod kit;
pub mod marker;
pub mod stage_record;
pub mod summary;

pub use kit::PreparedKit;
pub use stage_record::{Method, Record};

use std::path::Path;

use crate::error::{Code, Error};

/// A prepared kit could not be read or written.
pub(crate) fn kit_io(action: &str, path: &Path, err: std::io::Error) -> Error {
    Error::new(
        Code::InvalidArgs,
        format!("Cannot {action} {}: {err}", path.display()),
        "stage and unstage record what they did in the prepared kit: it must be readable and writable.",
    )
}
