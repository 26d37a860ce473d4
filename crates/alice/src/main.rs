//! The `alice` binary: CLI, config, wiring.
use clap::Parser;

/// AliceMultiverse: watches inbox folders and files every image and video into an organized tree.
#[derive(Parser)]
#[command(name = "alice", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
