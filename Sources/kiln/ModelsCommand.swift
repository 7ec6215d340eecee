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
          kiln models --compile    # also JIT-compile each model and print the compile time
        """
    )

    @Flag(help: "Trace each model and show parameter count and GFLOPs at its default input.")
    var flops = false

    @Flag(help: "JIT-compile each model at its default input and show the compile time.")
    var compile = false

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
                if compile {
                    let f = try m.trace().function
                    let compiled = try CompiledProgram(try Lowering.lower(f))
                    line += String(format: "compile %.3f s (%3d kernels)  ", compiled.compileSeconds, compiled.program.allKernels.count)
                }
                print(line + m.summary)
            }
        }
    }
}
