//! The `aicrd` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    aicrd::cli::main()
}
