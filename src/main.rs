fn main() -> std::process::ExitCode {
    wildcert::cli::main()
}
