//! The `quire` command.

mod cli;

/// candle allocates fresh buffers for every tensor operation; glibc's malloc
/// serves large ones with mmap and page faults on each, which cost a third of
/// the embedding time in system calls. mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
