fn main() {
    // A panic anywhere is a bug: one clear line and exit 1 (never Rust's 101 and a
    // backtrace hint). Steps' panics are caught earlier and reported as that step's failure.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // Never `eprintln!` here: on a closed pipe or terminal it panics inside the panic,
        // which aborts the process (and leaves helm running).
        deployctl::interrupt::stderr_line(&format!(
            "error: internal error (a bug in deployctl){at}: {}",
            deployctl::engine::panic_message(info.payload())
        ));
    }));
    let code = std::panic::catch_unwind(|| {
        deployctl::run(std::env::args_os(), deployctl::config::Env::from_process())
    })
    .unwrap_or(deployctl::error::exit::FAILED.0);
    // A panic may have skipped the tunnel's close: never leave it listening.
    deployctl::interrupt::stop_background();
    std::process::exit(code);
}
