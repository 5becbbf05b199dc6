fn main() {
    let code = deployctl::run(std::env::args_os(), deployctl::config::Env::from_process());
    std::process::exit(code);
}
