import KilnIR

/// The operands of one `linear_attention` or `linear_attention_backward` as the interpreter
/// receives them, unpacked once for the recurrent and the chunkwise paths: q, k, v, the gate
/// operand when the gate kind has one (g or β), h0 when present, and for the backward the
/// cotangents of the output and of the final state.
struct LinearAttentionOperands<S: InterpScalar> {
    let gate: LinearAttentionGate
    let q: [S], k: [S], v: [S]
    let g: [S]?
    let h0: [S]?
    /// Backward only: dO ([B,T,H,Dv]) and dS_final ([B,H,Dk,Dv]).
    let dout: [S]?, dstate: [S]?
    /// Backward with saved_states only: Sᵀ before each chunk ([B,H,chunks,Dv,Dk]).
    var savedStates: [S]? = nil
    let bsz: Int, tl: Int, h: Int, dk: Int, dv: Int
    let scale: S

    /// Forward operands: q, k, v, the gate operand if any, then an optional h0.
    init(forward ins: [[S]], _ types: [TensorType], _ a: Attributes) {
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        let h0Index = gate.hasGateOperand ? 4 : 3
        self.init(ins, types, a, gate: gate, h0: ins.count > h0Index ? ins[h0Index] : nil, dout: nil, dstate: nil)
    }

    /// Backward operands: the forward's (h0 only if `has_h0`), then dO and dS_final.
    init(backward ins: [[S]], _ types: [TensorType], _ a: Attributes) {
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        let hasH0 = a.bool("has_h0")
        let nf = 3 + (gate.hasGateOperand ? 1 : 0) + (hasH0 ? 1 : 0)
        self.init(ins, types, a, gate: gate, h0: hasH0 ? ins[nf - 1] : nil, dout: ins[nf], dstate: ins[nf + 1])
        if a.bool("saved_states") { savedStates = ins[nf + 2] }
    }

    private init(_ ins: [[S]], _ types: [TensorType], _ a: Attributes, gate: LinearAttentionGate, h0: [S]?, dout: [S]?, dstate: [S]?) {
        self.gate = gate
        (q, k, v) = (ins[0], ins[1], ins[2])
        g = gate.hasGateOperand ? ins[3] : nil
        self.h0 = h0
        self.dout = dout
        self.dstate = dstate
        let qs = types[0].shape
        (bsz, tl, h, dk, dv) = (qs[0], qs[1], qs[2], qs[3], types[2].shape[3])
        scale = S(a.float("scale"))
    }
}
