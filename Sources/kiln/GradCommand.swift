import ArgumentParser
import Foundation
import Kiln

struct GradCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grad",
        abstract: "Compute a loss and its gradients with respect to every parameter (and optionally the inputs).",
        discussion: """
        A model that returns a scalar f32 is its own loss; otherwise the loss is sum(y * y) / 2
        of its first result. Gradients are written to a .safetensors file under the parameter
        names, plus "loss".

        Examples:
          kiln grad ffn-block --shape 1x16x512 --output grads.safetensors
          kiln grad IR/models/ffn-block.kir --params ffn.safetensors --input x=x.npy --output g.safetensors --interpret
        """
    )

    @OptionGroup var options: ModelOptions

    @OptionGroup var files: TensorFileOptions

    @Option(help: "Where to write the gradients (.safetensors).")
    var output: String?

    @Flag(help: "Also differentiate with respect to the f32 inputs.")
    var wrtInputs = false

    @Flag(help: "Use the reference interpreter instead of the compiled executor.")
    var interpret = false

    func run() throws {
        try reportingErrors {
            let model = try options.load()
            let (lossFn, how) = try LossFunction.wrap(model.function)
            var names = lossFn.params.map { lossFn.name(of: $0) }
            if wrtInputs { names = lossFn.inputs.filter { lossFn.type(of: $0).dtype == .f32 }.map { lossFn.name(of: $0) } + names }
            let g = try gradient(of: lossFn, wrt: names)
            let (paramValues, given) = try files.load(for: g)
            let bound = try ArgumentBinder.bind(function: g, params: paramValues, defaults: model.parameters, inputs: given,
                                                paramsFile: files.params ?? "params", seed: options.seed)
            let start = Date()
            let results = interpret ? try Interpreter().run(g, inputs: bound.values) : try Executable(g).run(bound.values)
            note(String(format: "loss = %@; gradients of %d tensors in %.3f s (%@)", how, names.count, Date().timeIntervalSince(start),
                        interpret ? "interpreter" : "compiled"))
            print("loss \(results[0].doubles[0])")
            for (name, t) in zip(names, results.dropFirst()) { print("d \(name): \(summary(t))") }
            if let output {
                try SafeTensors.write([(name: "loss", tensor: results[0])] + zip(names, results.dropFirst()).map { (name: $0, tensor: $1) }, to: output)
                note("wrote \(output)")
            }
        }
    }
}
