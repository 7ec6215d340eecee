import ArgumentParser
import Foundation
import Kiln

struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a model's Graph IR (or a Graphviz graph of it).",
        discussion: """
        The printed text is valid Graph IR: it parses back with `kiln run FILE.kir`.
        Lines starting with // are comments (a summary of the model).

        Examples:
          kiln dump convnext-block
          kiln dump IR/models/gla-block.kir
          kiln dump resnet-basic-block --dot > resnet.dot && dot -Tsvg resnet.dot -o resnet.svg
        """
    )

    @OptionGroup var options: ModelOptions

    @Flag(help: "Print Graphviz DOT instead of IR text.")
    var dot = false

    @Option(help: "What to print: graph (more stages arrive with the LLVM backend).")
    var emit: String = "graph"

    func run() throws {
        try reportingErrors {
            guard emit == "graph" else {
                throw KilnError("--emit \(emit): only 'graph' is available in this build")
            }
            let model = try options.load()
            let f = model.function
            if dot {
                print(f.dotGraph(), terminator: "")
                return
            }
            var counts: [OpKind: Int] = [:]
            func count(_ fn: Function) {
                for n in fn.nodes {
                    counts[n.op, default: 0] += 1
                    n.regions.forEach(count)
                }
            }
            count(f)
            let ops = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }
            print("// \(model.origin)")
            print("// \(f.nodes.count) ops, \(f.params.count) parameter tensors (\(f.parameterCount) values), " +
                  String(format: "%.3f GFLOP per run", f.flops / 1e9))
            print("// ops: " + ops.joined(separator: ", "))
            print(f.printed(), terminator: "")
        }
    }
}
