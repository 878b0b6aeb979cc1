#![forbid(unsafe_code)]

/// mimalloc instead of glibc's allocator: a callback allocates many small, short-lived
/// buffers across threads, and under load glibc's arena locking and consolidation showed up
/// as a tenth of the receiver's CPU time (`bench/run`, perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    trusthub_hooks::cli::main()
}
