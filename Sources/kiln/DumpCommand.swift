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
          kiln dump ffn-block --emit kernels     # the lowered loop nests and GEMM steps
          kiln dump ffn-block --emit llvm        # optimized LLVM IR of the kernels
          kiln dump ffn-block --emit asm         # host assembly (zmm registers on AVX-512)
          kiln dump ffn-block --grad             # the backward graph and the forward values it keeps
          kiln dump convnext-block --after fuse-residual-blocks   # the graph after a pass, with its decisions
          kiln dump gla-block --print-after-all  # every pass in turn
        """
    )

    @OptionGroup var options: ModelOptions

    @Flag(help: "Print Graphviz DOT instead of IR text.")
    var dot = false

    @Option(help: "What to print: graph, kernels, llvm or asm.")
    var emit: String = "graph"

    @Flag(help: "Print the gradient graph (loss and d loss / d parameter) and what it keeps from the forward pass.")
    var grad = false

    @Option(help: "Run the pass pipeline up to and including PASS and print the result (passes: \(PassPipeline.all.names.joined(separator: ", "))).")
    var after: String?

    @Flag(help: "Print the graph after every pass of the pipeline.")
    var printAfterAll = false

    @Flag(help: "With --emit kernels, llvm or asm: lower the graph as traced, without the pass pipeline (what `kiln run --no-passes` compiles).")
    var noPasses = false

    @Option(help: "Threads the cost models plan for (default: KILN_THREADS or all cores).")
    var threads: Int?

    @Option(name: .customLong("pass-option"), help: "A pass option KEY=VALUE, e.g. linear-attention-chunk=64 (repeatable).")
    var passOptions: [String] = []

    func run() throws {
        try reportingErrors {
            guard ["graph", "kernels", "llvm", "asm"].contains(emit) else {
                throw KilnError("--emit \(emit): choose graph, kernels, llvm or asm")
            }
            if noPasses && (after != nil || printAfterAll || emit == "graph") {
                throw KilnError("--no-passes applies to --emit kernels, llvm or asm without --after or --print-after-all")
            }
            var model = try options.load()
            if grad {
                let (lossFn, how) = try LossFunction.wrap(model.function)
                let report = try gradientWithReport(of: lossFn, wrt: lossFn.params.map { lossFn.name(of: $0) })
                print("// gradient of \(how) with respect to \(lossFn.params.count) parameters")
                print("// forward nodes \(report.forwardNodes), backward nodes \(report.backwardNodes)")
                print("// saved from the forward pass (read by backward ops): \(report.savedValues.map { "%" + $0 }.joined(separator: ", "))")
                print("// recomputed in the backward pass instead of saved (cheap pointwise): \(report.recomputedValues.map { "%" + $0 }.joined(separator: ", "))")
                model.function = report.function
            }
            var f = model.function
            // Code is emitted for the graph `kiln run` compiles: after every pass unless told otherwise.
            let wholePipeline = emit != "graph" && after == nil && !printAfterAll && !noPasses
            if after != nil || printAfterAll || wholePipeline {
                let context = PassContext(threads: threads ?? Executable.defaultThreads, options: try parsePassOptions(passOptions))
                let result = try PassPipeline.all.run(f, context: context, through: after) { name, r in
                    guard printAfterAll else { return }
                    print("// ---- after \(name)")
                    for n in r.notes { print("// \(n)") }
                    print(r.function.printed())
                }
                if printAfterAll { return }
                // LLVM IR and assembly stay clean for llc and friends: the notes go to stderr there.
                let comment = { (line: String) in ["llvm", "asm"].contains(emit) ? note(line) : print("// " + line) }
                comment("after \(after ?? "every pass (as kiln run compiles it; --no-passes for the graph as traced)")")
                for n in result.notes { comment(n) }
                f = result.function
            }
            if emit != "graph" {
                // As the compiled executor runs it (large GEMMs as tile-matmul kernels).
                let program = try Lowering.lower(f).tilingGemms()
                if emit == "kernels" {
                    print("// \(model.origin): \(program.allKernels.count) kernel\(program.allKernels.count == 1 ? "" : "s"), \(program.buffers.count) buffers")
                    print(program, terminator: "")
                    return
                }
                let compiled = try CompiledProgram(program, emitAssembly: emit == "asm")
                note(String(format: "compiled %@ in %.3f s for %@", model.origin, compiled.compileSeconds, compiled.target.description))
                print(emit == "llvm" ? compiled.llvmIR : compiled.assembly, terminator: "")
                return
            }
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

/// Parses `KEY=VALUE` pass options.
func parsePassOptions(_ items: [String]) throws -> [String: String] {
    var out: [String: String] = [:]
    for item in items {
        guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
            throw KilnError("--pass-option \(item): expected KEY=VALUE")
        }
        out[String(item[..<eq])] = String(item[item.index(after: eq)...])
    }
    return out
}
