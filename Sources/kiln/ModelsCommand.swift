import ArgumentParser
import Kiln

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the model zoo: names, default input shapes, sizes.",
        discussion: """
        Examples:
          kiln models
          kiln models --flops      # also trace each model and print its GFLOPs and parameter count
        """
    )

    @Flag(help: "Trace each model and show parameter count and GFLOPs at its default input.")
    var flops = false

    func run() throws {
        try reportingErrors {
            let width = Zoo.models.map(\.name.count).max() ?? 0
            for m in Zoo.models {
                var line = m.name.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                line += m.defaultInput.description.padding(toLength: 20, withPad: " ", startingAt: 0)
                if flops {
                    let f = try m.trace().function
                    line += String(format: "%8.3f GFLOP  %9d params  ", f.flops / 1e9, f.parameterCount)
                }
                print(line + m.summary)
            }
        }
    }
}
