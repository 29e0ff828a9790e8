//! `helm nvflare version`.

use serde_json::{json, Map};

use crate::cli::VersionArgs;
use crate::output;

pub fn run(args: VersionArgs) -> i32 {
    let mut data = Map::new();
    data.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    output::print_ok(args.format, &data);
    0
}
