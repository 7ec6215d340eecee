/// Optimizers as Graph IR update functions, compiled like any model: one function takes
/// every parameter, its gradient and its optimizer state and returns the new ones.
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd, adamw
}

/// Hyperparameters; `momentum` is SGD's, `beta1`/`beta2`/`eps`/`weightDecay` AdamW's.
public struct OptimizerConfig: Sendable {
    public var kind: OptimizerKind
    public var learningRate: Double
    public var momentum = 0.9
    public var beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01

    public init(kind: OptimizerKind, learningRate: Double) {
        self.kind = kind
        self.learningRate = learningRate
    }

    /// State tensors per parameter (momentum buffer; or first and second moments).
    var statesPerParam: Int { kind == .sgd ? 1 : 2 }
}

enum OptimizerGraph {
    /// update(params..., grads..., states..., c1, c2) -> (params..., states...).
    /// c1, c2 are AdamW's bias corrections 1/(1 - beta^t), passed per step (unused by SGD).
    static func build(_ types: [(String, TensorType)], _ cfg: OptimizerConfig) throws -> Function {
        let b = FunctionBuilder(name: "update_\(cfg.kind)")
        let params = try types.map { try b.addInput($0.0, $0.1) }
        let grads = try types.map { try b.addInput("grad." + $0.0, $0.1) }
        var states: [[ValueID]] = []
        for s in 0..<cfg.statesPerParam { states.append(try types.map { try b.addInput("state\(s)." + $0.0, $0.1) }) }
        let c1 = try b.addInput("c1", .f32()), c2 = try b.addInput("c2", .f32())
        func k(_ v: Double) throws -> ValueID { try b.add1(.constant, [], attributes: ["shape": .ints([]), "value": .float(v)]) }
        var newParams: [ValueID] = [], newStates: [[ValueID]] = Array(repeating: [], count: cfg.statesPerParam)
        for i in 0..<types.count {
            let (p, g) = (params[i], grads[i])
            switch cfg.kind {
            case .sgd:
                // v = mu v + g; p = p - lr v
                let v = try b.add1(.add, [try b.add1(.mul, [states[0][i], try k(cfg.momentum)]), g])
                newStates[0].append(v)
                newParams.append(try b.add1(.sub, [p, try b.add1(.mul, [v, try k(cfg.learningRate)])]))
            case .adamw:
                // m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m c1 / (sqrt(v c2) + eps) + wd p)
                let m = try b.add1(.add, [try b.add1(.mul, [states[0][i], try k(cfg.beta1)]), try b.add1(.mul, [g, try k(1 - cfg.beta1)])])
                let v = try b.add1(.add, [try b.add1(.mul, [states[1][i], try k(cfg.beta2)]),
                                          try b.add1(.mul, [try b.add1(.mul, [g, g]), try k(1 - cfg.beta2)])])
                let mhat = try b.add1(.mul, [m, c1]), vhat = try b.add1(.mul, [v, c2])
                let step = try b.add1(.div, [mhat, try b.add1(.add, [try b.add1(.sqrt, [vhat]), try k(cfg.eps)])])
                let decayed = try b.add1(.add, [step, try b.add1(.mul, [p, try k(cfg.weightDecay)])])
                newParams.append(try b.add1(.sub, [p, try b.add1(.mul, [decayed, try k(cfg.learningRate)])]))
                newStates[0].append(m)
                newStates[1].append(v)
            }
        }
        // c1 and c2 must be used even by SGD so every argument is live in the update.
        _ = c1; _ = c2
        return b.finish(results: newParams + newStates.flatMap { $0 })
    }
}
