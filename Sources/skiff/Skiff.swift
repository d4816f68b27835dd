import ArgumentParser

/// The `skiff` command: serve, run and measure open-weight language models.
@main
struct Skiff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "Self-hosted LLM inference: pull a model, chat with it, measure it.",
        version: SkiffVersion.current,
        subcommands: [PullCommand.self, RunCommand.self, ServeCommand.self, BenchCommand.self, PerplexityCommand.self, BenchEngineCommand.self, BenchGrammarCommand.self, PlanCommand.self, SimulateCommand.self, ConvertCommand.self]
    )
}

/// The version printed by `skiff --version`.
enum SkiffVersion {
    static let current = "0.1.0"
}
