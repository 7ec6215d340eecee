import ArgumentParser
import Kiln

/// `--params P.safetensors` and `--input name=x.npy`, shared by run and grad.
struct TensorFileOptions: ParsableArguments {
    @Option(help: "Parameters as a .safetensors file.")
    var params: String?

    @Option(name: .customLong("input"), help: "An input as name=file.npy (or just file.npy for a single-input model). Repeatable.")
    var inputs: [String] = []

    /// Parameters from the file (nil when none was given) and inputs by name.
    func load(for f: Function) throws -> (params: [String: HostTensor]?, inputs: [String: HostTensor]) {
        var paramValues: [String: HostTensor]?
        if let params {
            var dict: [String: HostTensor] = [:]
            for (name, t) in try SafeTensors.read(params) { dict[name] = t }
            paramValues = dict
        }
        var given: [String: HostTensor] = [:]
        for spec in inputs {
            let (name, path) = try splitInputSpec(spec, function: f)
            guard given[name] == nil else { throw KilnError("--input \(name) is given twice") }
            given[name] = try NPY.read(path)
        }
        return (paramValues, given)
    }

    /// `name=path` or, for a single-input function, just `path`.
    func splitInputSpec(_ spec: String, function f: Function) throws -> (String, String) {
        let binding: (name: String?, path: String)
        do { binding = try ArgumentSyntax.parseInputBinding(spec) } catch { throw KilnError(error.message) }
        if let name = binding.name { return (name, binding.path) }
        guard f.inputs.count == 1 else {
            throw KilnError("--input \(spec): the model has \(f.inputs.count) inputs; write name=file.npy")
        }
        return (f.name(of: f.inputs[0]), spec)
    }
}
