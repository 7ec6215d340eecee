import ArgumentParser
import Kiln

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace a zoo model into Graph IR text.",
        discussion: """
        Examples:
          kiln trace convnext-block -o IR/models/convnext-block.kir
          kiln trace ffn-block --shape 1x128x512 --params-out ffn.safetensors -o ffn.kir
          kiln run ffn.kir --params ffn.safetensors     # same result as: kiln run ffn-block --shape 1x128x512
        """
    )

    @OptionGroup var options: ModelOptions

    @Option(name: .shortAndLong, help: "Where to write the .kir text (default: stdout).")
    var output: String?

    @Option(help: "Also write the model's initial parameters to this .safetensors file.")
    var paramsOut: String?

    func run() throws {
        try reportingErrors {
            let model = try options.load()
            let text = model.function.printed()
            if let output {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
                note("wrote \(output) (\(model.function.nodes.count) ops, \(model.function.params.count) parameters)")
            } else {
                print(text, terminator: "")
            }
            if let paramsOut {
                let named = model.function.params.compactMap { p -> (name: String, tensor: HostTensor)? in
                    let name = model.function.name(of: p)
                    return model.parameters[name].map { (name: name, tensor: $0) }
                }
                try SafeTensors.write(named, to: paramsOut)
                note("wrote \(paramsOut) (\(named.count) tensors)")
            }
        }
    }
}
