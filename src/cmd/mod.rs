//! One file per subcommand: turn parsed flags into settings, call the core, print.

pub mod completion;
pub mod package;
pub mod prepare;
pub mod push;
pub mod stage;
pub mod verify;
pub mod version;
