fn main() -> std::process::ExitCode {
    liveroom::cli::main()
}
