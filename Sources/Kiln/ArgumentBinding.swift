/// The values bound to a function's arguments, and which of them Kiln made up.
public struct BoundArguments {
    /// Every input and parameter, by name.
    public var values: [String: HostTensor]
    /// Names filled with seeded random values because nothing was given.
    public var randomInputs: [String]
    /// Parameters initialized by Kiln (seeded) rather than read from a file.
    public var generatedParams: [String]
}

/// Binds tensors to a function's signature, checking names, dtypes and shapes, and fills
/// what is missing with seeded random values (and says which).
public enum ArgumentBinder {
    /// - Parameters:
    ///   - function: the signature to bind.
    ///   - params: parameter tensors from a file (strict: every parameter must be present,
    ///     no extras) or nil to use `defaults` and seeded random values.
    ///   - defaults: parameter values that came with the model (a zoo model's initialization).
    ///   - inputs: runtime inputs by name; a missing input gets seeded random values.
    ///   - source: file names for diagnostics.
    public static func bind(function: Function, params: [String: HostTensor]?, defaults: [String: HostTensor],
                            inputs: [String: HostTensor], paramsFile: String = "params", seed: UInt64 = 0) throws -> BoundArguments {
        // Before any random tensor is made: an absurd shape is an error naming its size.
        try MemoryBudget.checkValues(of: function)
        var values: [String: HostTensor] = [:]
        var random: [String] = []
        var generated: [String] = []
        let paramNames = Set(function.params.map(function.name(of:)))
        let inputNames = Set(function.inputs.map(function.name(of:)))

        if let params {
            for name in params.keys.sorted() where !paramNames.contains(name) {
                throw KilnError("\(paramsFile): tensor '\(name)' is not a parameter of @\(function.name) (it has \(paramNames.count) parameters, e.g. \(paramNames.sorted().prefix(3).joined(separator: ", ")))")
            }
        }
        for name in inputs.keys.sorted() where !inputNames.contains(name) {
            throw KilnError("--input \(name): @\(function.name) has no input '\(name)' (inputs: \(inputNames.sorted().joined(separator: ", ")))")
        }
        for p in function.params {
            let name = function.name(of: p), type = function.type(of: p)
            if let params {
                guard let t = params[name] else {
                    throw KilnError("\(paramsFile): missing parameter '\(name)' of type \(type)")
                }
                try check(t, name: name, expected: type, source: paramsFile)
                values[name] = t
            } else if let t = defaults[name] {
                values[name] = t
            } else {
                values[name] = randomTensor(type, seed: seed, name: name, scale: 0.1)
                generated.append(name)
            }
        }
        for i in function.inputs {
            let name = function.name(of: i), type = function.type(of: i)
            if let t = inputs[name] {
                try check(t, name: name, expected: type, source: "--input \(name)")
                values[name] = t
            } else {
                values[name] = randomTensor(type, seed: seed, name: "input:" + name, scale: 1)
                random.append(name)
            }
        }
        return BoundArguments(values: values, randomInputs: random, generatedParams: generated)
    }

    static func check(_ t: HostTensor, name: String, expected: TensorType, source: String) throws {
        guard t.type == expected else {
            throw KilnError("\(source): tensor '\(name)': expected \(expected), got \(t.type)")
        }
    }

    /// Seeded values for a type: uniform in [-scale, scale) for floats, small ids for i32.
    public static func randomTensor(_ type: TensorType, seed: UInt64, name: String, scale: Double) -> HostTensor {
        var rng = SeededRandom(seed: seed, name: name)
        switch type.dtype {
        case .f32:
            return HostTensor(shape: type.shape, floats: rng.uniformFloats(type.elementCount, -scale, scale))
        case .i32:
            return HostTensor(shape: type.shape, ints: (0..<type.elementCount).map { _ in Int32(rng.next() % 16) })
        case .bool:
            return HostTensor(shape: type.shape, data: .bool((0..<type.elementCount).map { _ in rng.next() & 1 == 1 }))
        }
    }
}
