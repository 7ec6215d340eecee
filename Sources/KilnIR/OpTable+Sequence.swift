// Table entries for cumsum, linear_attention and the region ops repeat and fused.

/// Gate kinds of `linear_attention`; see DESIGN.md and reference/chunkwise.md §1.
public enum LinearAttentionGate: String, CaseIterable, Sendable {
    case none, scalar, key, delta

    /// Whether the op takes a gate (or beta) operand after v.
    public var hasGateOperand: Bool { self != .none }
}

/// The `chunk` attribute of the linear-attention ops: 0 (recurrent, or automatic before
/// schedule-linear-attention runs) or a chunk size in 16...256.
private let chunkCheck: @Sendable (Attribute) -> String? = { a in
    guard let c = a.intValue else { return nil }
    return c == 0 || (16...256).contains(c) ? nil : "must be 0 (automatic) or in 16...256, got \(c)"
}

/// The chunk-boundary states a chunkwise `linear_attention` saves for its backward
/// (`save_states`): Sᵀ before each of the ceil(T / chunk) chunks, [B, H, chunks, Dv, Dk],
/// transposed because the backward reads Sᵀ as a matmul operand.
public func linearAttentionSavedStatesType(batch: Int, seqLen: Int, heads: Int, dk: Int, dv: Int, chunk: Int) -> TensorType {
    TensorType(.f32, [batch, heads, (seqLen + chunk - 1) / chunk, dv, dk])
}

/// Why `save_states` / `saved_states` cannot apply to this op, or nil: they need the chunkwise
/// form (chunk > 0, not parallel) and a decay gate (none / scalar / key; DeltaNet's backward
/// recomputes its states through the UT form).
private func savedStatesProblem(_ op: OpKind, _ attr: String, _ gate: LinearAttentionGate, _ a: Attributes) -> IRError? {
    if gate == .delta { return IRError("\(op): \(attr) = true is for gates none, scalar and key, not delta") }
    if a.int("chunk") == 0 { return IRError("\(op): \(attr) = true needs the chunkwise form (chunk in 16...256), got chunk = 0") }
    if a.bool("parallel") { return IRError("\(op): \(attr) = true does not apply to the parallel form") }
    return nil
}

func sequenceOps() -> [OpInfo] {
    var ops: [OpInfo] = []

    ops.append(OpInfo(
        kind: .cumsum, category: .scan, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
        attributes: [
            AttributeSpec("axis", .int),
            AttributeSpec("reverse", .bool, default: .bool(false)),
            AttributeSpec("exclusive", .bool, default: .bool(false)),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            try requireF32(.cumsum, ins, ["x"])
            _ = try normalizeAxis(a.int("axis"), rank: ins[0].rank, op: "cumsum")
            return [ins[0]]
        },
        flops: elementCountFlops(1)))

    // linear_attention(q[B,T,H,Dk], k[B,T,H,Dk], v[B,T,H,Dv], gate?, h0[B,H,Dk,Dv]?)
    // gate: scalar -> g[B,T,H]; key -> g[B,T,H,Dk]; delta -> beta[B,T,H]; none -> absent.
    // Results: o[B,T,H,Dv], the final state [B,H,Dk,Dv] when final_state = true, and the
    // chunk-boundary states (linearAttentionSavedStatesType) when save_states = true.
    ops.append(OpInfo(
        kind: .linear_attention, category: .scan,
        operandNames: ["q", "k", "v", "gate", "h0"], minInputs: 3, maxInputs: 5, outputs: .computed,
        attributes: [
            AttributeSpec("gate", .symbol(LinearAttentionGate.allCases.map(\.rawValue)), default: .symbol("none")),
            AttributeSpec("scale", .float, check: Checks.finiteFloat),
            // 0: let schedule-linear-attention choose; otherwise 16...256.
            AttributeSpec("chunk", .int, default: .int(0), check: chunkCheck),
            AttributeSpec("final_state", .bool, default: .bool(false)),
            // true: the quadratic parallel form over the whole sequence (chunk must be 0).
            AttributeSpec("parallel", .bool, default: .bool(false)),
            // true: also return Sᵀ before every chunk, for a linear_attention_backward with
            // saved_states (set by share-linear-attention-states).
            AttributeSpec("save_states", .bool, default: .bool(false)),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
            try requireF32(.linear_attention, ins, ["q", "k", "v", "gate", "h0"])
            let (q, k, v) = (ins[0], ins[1], ins[2])
            for (name, t) in [("q", q), ("k", k), ("v", v)] { try requireRank(.linear_attention, name, t, 4) }
            guard q.shape == k.shape else { throw mismatch(.linear_attention, "q and k must match", q, k) }
            guard Array(v.shape.prefix(3)) == Array(q.shape.prefix(3)) else {
                throw mismatch(.linear_attention, "v must be [B,T,H,Dv] like q", q, v)
            }
            let (b, t, h, dk, dv) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3], v.shape[3])
            let expected = 3 + (gate.hasGateOperand ? 1 : 0)
            guard ins.count == expected || ins.count == expected + 1 else {
                throw IRError("linear_attention: gate = \(gate) takes \(expected) operands (+1 for h0), got \(ins.count)")
            }
            if gate.hasGateOperand {
                let want = gate == .key ? [b, t, h, dk] : [b, t, h]
                guard ins[3].shape == want else {
                    let name = gate == .delta ? "beta" : "gate"
                    throw mismatch(.linear_attention, "\(name) must be \(TensorType(.f32, want)) for gate = \(gate)", ins[3], q)
                }
            }
            let state = TensorType(.f32, [b, h, dk, dv])
            if ins.count == expected + 1, ins[expected] != state {
                throw mismatch(.linear_attention, "h0 must be \(state)", ins[expected], q)
            }
            let o = TensorType(.f32, [b, t, h, dv])
            var results = a.bool("final_state") ? [o, state] : [o]
            if a.bool("save_states") {
                if let problem = savedStatesProblem(.linear_attention, "save_states", gate, a) { throw problem }
                results.append(linearAttentionSavedStatesType(batch: b, seqLen: t, heads: h, dk: dk, dv: dv, chunk: a.int("chunk")))
            }
            return results
        },
        flops: { ins, _, _ in
            // Recurrent form: about 4 FMAs per state element per token.
            // In Double: the product of valid dimensions can still overflow Int.
            let q = ins[0].shape.map(Double.init), dv = Double(ins[2].shape[3])
            return 8 * q.reduce(1, *) * dv
        }))

    // linear_attention_backward(q, k, v, gate?, h0?, dout, dstate, states?) {gate, scale, has_h0}:
    // cotangents (dq, dk, dv, dgate?, dh0?) of linear_attention given those of o and the final state.
    // With saved_states = true, `states` is the forward's save_states result and the backward
    // reads the chunk-boundary states from it instead of recomputing them.
    ops.append(OpInfo(
        kind: .linear_attention_backward, category: .scan,
        operandNames: ["q", "k", "v", "gate", "h0", "dout", "dstate", "states"], minInputs: 5, maxInputs: 8, outputs: .computed,
        attributes: [
            AttributeSpec("gate", .symbol(LinearAttentionGate.allCases.map(\.rawValue)), default: .symbol("none")),
            AttributeSpec("scale", .float, check: Checks.finiteFloat),
            AttributeSpec("has_h0", .bool, default: .bool(false)),
            // 0: the recurrent reverse sweep; otherwise the chunkwise backward with this chunk size.
            AttributeSpec("chunk", .int, default: .int(0), check: chunkCheck),
            // true: one more operand, the forward's chunk-boundary states (save_states).
            AttributeSpec("saved_states", .bool, default: .bool(false)),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, r throws(IRError) in
            let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
            let forwardCount = 3 + (gate.hasGateOperand ? 1 : 0) + (a.bool("has_h0") ? 1 : 0)
            let saved = a.bool("saved_states")
            let expected = forwardCount + 2 + (saved ? 1 : 0)
            guard ins.count == expected else {
                throw IRError("linear_attention_backward: gate = \(gate), has_h0 = \(a.bool("has_h0")), saved_states = \(saved) takes \(expected) operands, got \(ins.count)")
            }
            if saved {
                if let problem = savedStatesProblem(.linear_attention_backward, "saved_states", gate, a) { throw problem }
                let (q, dv) = (ins[0].shape, ins[2].shape.last ?? 0)
                if q.count == 4 {
                    let want = linearAttentionSavedStatesType(batch: q[0], seqLen: q[1], heads: q[2], dk: q[3], dv: dv, chunk: a.int("chunk"))
                    guard ins[expected - 1] == want else {
                        throw mismatch(.linear_attention_backward, "states must be \(want) (Sᵀ before each chunk of \(a.int("chunk")))", ins[expected - 1], ins[0])
                    }
                }
            }
            let fwd = try sequenceOps().first { $0.kind == .linear_attention }!.inferTypes(
                Array(ins.prefix(forwardCount)), ["gate": .symbol(gate.rawValue), "scale": .float(a.float("scale")), "chunk": .int(0), "final_state": .bool(true)], r)
            guard ins[forwardCount] == fwd[0], ins[forwardCount + 1] == fwd[1] else {
                throw mismatch(.linear_attention_backward, "dout and dstate must match the output and final state", ins[forwardCount], ins[forwardCount + 1])
            }
            return Array(ins.prefix(forwardCount))
        },
        flops: { ins, _, _ in
            let q = ins[0].shape.map(Double.init), dv = Double(ins[2].shape[3])
            return 24 * q.reduce(1, *) * dv
        }))

    // repeat(x, captured...) {count}: x <- body(x, captured...) count times; weights are shared.
    ops.append(OpInfo(
        kind: .repeat, category: .region, operandNames: ["x", "captured..."], minInputs: 1, maxInputs: nil,
        outputs: .fixed(1),
        attributes: [AttributeSpec("count", .int, check: { a in
            guard let c = a.intValue else { return nil }
            return (1...1_000_000).contains(c) ? nil : "must be in 1...1000000, got \(c)"
        })],
        regionCount: 1, allowsUnknownAttributes: false,
        inferTypes: { ins, _, regions throws(IRError) in
            let body = regions[0]
            let paramTypes = body.arguments.map { body.type(of: $0) }
            guard paramTypes == ins else {
                throw IRError("repeat: body takes (\(paramTypes.map(\.description).joined(separator: ", "))) but is given (\(ins.map(\.description).joined(separator: ", ")))")
            }
            let results = body.results.map { body.type(of: $0) }
            guard results == [ins[0]] else {
                throw IRError("repeat: body must return one value of type \(ins[0]), returns (\(results.map(\.description).joined(separator: ", ")))")
            }
            return [ins[0]]
        },
        flops: { _, _, _ in 0 }))

    // fused(inputs...): one kernel whose semantics are its body; schedule attributes are free-form.
    ops.append(OpInfo(
        kind: .fused, category: .region, operandNames: ["x..."], minInputs: 0, maxInputs: nil, outputs: .computed,
        attributes: [], regionCount: 1, allowsUnknownAttributes: true,
        inferTypes: { ins, _, regions throws(IRError) in
            let body = regions[0]
            let paramTypes = body.arguments.map { body.type(of: $0) }
            guard paramTypes == ins else {
                throw IRError("fused: body takes (\(paramTypes.map(\.description).joined(separator: ", "))) but is given (\(ins.map(\.description).joined(separator: ", ")))")
            }
            return body.results.map { body.type(of: $0) }
        },
        flops: { _, _, _ in 0 }))
    return ops
}
