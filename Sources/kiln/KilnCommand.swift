import ArgumentParser
import Foundation
import Kiln

/// `kiln`: trace, inspect, run (and later compile and benchmark) Kiln models.
@main
struct KilnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Kiln: a differentiable compute-graph compiler for CPUs.",
        discussion: """
        A MODEL is a zoo name (see `kiln models`) or a Graph IR file (*.kir).

        Examples:
          kiln models
          kiln trace convnext-block -o convnext.kir
          kiln dump convnext.kir
          kiln run convnext-block --shape 2x56x56x96
        """,
        version: kilnVersion,
        subcommands: [ModelsCommand.self, OpsCommand.self, TraceCommand.self, DumpCommand.self, RunCommand.self, GradCommand.self, TrainCommand.self, CompileCommand.self, BenchCommand.self]
    )
}

/// Options shared by every command that takes a MODEL.
struct ModelOptions: ParsableArguments {
    @Argument(help: "A zoo model name or a .kir file.")
    var model: String

    @Option(help: "Input shape for a zoo model, e.g. 8x56x56x96 (default: the model's own).")
    var shape: String?

    @Option(help: "Seed for generated parameters and inputs.")
    var seed: UInt64 = 0

    func load() throws -> LoadedModel {
        let dims = try shape.map(ModelLoader.parseShape)
        return try ModelLoader.load(model, shape: dims, seed: seed)
    }
}

/// Runs `body`, turning Kiln's errors into one `error:` line on stderr and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Writes a progress or status note to stderr so stdout stays machine-readable.
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
