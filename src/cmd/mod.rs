//! One file per subcommand: turn parsed flags into settings, call the core, print.

pub mod completion;
pub mod prepare;
pub mod version;
