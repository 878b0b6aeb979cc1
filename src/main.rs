#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    trusthub_hooks::cli::main()
}
