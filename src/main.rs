//! The `onecard` binary: see `onecard --help`.

fn main() -> std::process::ExitCode {
    onecard::cli::main()
}
