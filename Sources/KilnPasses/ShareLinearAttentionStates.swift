import KilnIR

/// `share-linear-attention-states`: a chunkwise `linear_attention_backward` recomputes the
/// state at every chunk boundary in a forward sweep before its reverse sweep, which costs about
/// as much as the forward itself. When the forward op with the same operands runs chunkwise in
/// the same function, this pass makes it save those states (`save_states`, one more result:
/// Sᵀ before each chunk) and hands them to the backward (`saved_states`, one more operand), so
/// the backward skips its recomputing sweep.
///
/// The two must share the chunk size: a backward whose C differs from its forward's takes the
/// forward's (the note says so). Not paired: DeltaNet (its backward recomputes through the UT
/// form), a recurrent or parallel forward, a recurrent backward. The saved states take
/// chunks x Dk x Dv floats per (batch, head), the same as the backward's own scratch would.
/// Option `share-linear-attention-states=off` leaves the ops alone.
public struct ShareLinearAttentionStates: Pass {
    public var name: String { "share-linear-attention-states" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        let mode = context.options[name] ?? "on"
        guard ["on", "off"].contains(mode) else { throw PassError("\(name)=\(mode): choose on or off") }
        guard mode == "on" else { return PassResult(function: function) }
        var notes: [String] = []
        // Renumbered when changed: the new states values in definition order, as the parser numbers them.
        let shared = try share(function, &notes)
        return PassResult(function: shared == function ? function : shared.compacted(), notes: notes)
    }

    func share(_ function: Function, _ notes: inout [String]) throws -> Function {
        var f = function
        for i in f.nodes.indices { f.nodes[i].regions = try f.nodes[i].regions.map { r in
            let shared = try share(r, &notes)
            return shared == r ? r : shared.compacted()
        } }
        for bi in f.nodes.indices where f.nodes[bi].op == .linear_attention_backward {
            let back = f.nodes[bi]
            let gate = LinearAttentionGate(rawValue: back.attributes.symbol("gate")) ?? .none
            let name = "%" + f.name(of: back.outputs[0])
            guard gate != .delta, !back.attributes.bool("saved_states") else { continue }
            let forwardCount = 3 + (gate.hasGateOperand ? 1 : 0) + (back.attributes.bool("has_h0") ? 1 : 0)
            let operands = Array(back.inputs.prefix(forwardCount))
            let producers = f.producers()
            guard let fi = f.nodes[..<bi].firstIndex(where: {
                $0.op == .linear_attention && $0.inputs.count == operands.count
                    && zip($0.inputs, operands).allSatisfy { same($0, $1, f, producers) } && $0.attributes.symbol("gate") == gate.rawValue
                    && $0.attributes.float("scale") == back.attributes.float("scale")
            }) else { continue }
            let fwd = f.nodes[fi], chunk = fwd.attributes.int("chunk")
            let fname = "%" + f.name(of: fwd.outputs[0])
            if chunk == 0 || fwd.attributes.bool("parallel") {
                notes.append("\(name): not shared with \(fname), whose form is \(chunk == 0 ? "recurrent" : "parallel"); the backward recomputes its states")
                continue
            }
            guard back.attributes.int("chunk") > 0 else {
                notes.append("\(name): the backward runs recurrent; nothing to share with \(fname)")
                continue
            }
            let statesValue: ValueID
            if fwd.attributes.bool("save_states") {
                statesValue = fwd.outputs.last!
            } else {
                let q = f.type(of: fwd.inputs[0]).shape, dv = f.type(of: fwd.inputs[2]).shape[3]
                let type = linearAttentionSavedStatesType(batch: q[0], seqLen: q[1], heads: q[2], dk: q[3], dv: dv, chunk: chunk)
                statesValue = ValueID(f.values.count)
                f.values.append(ValueInfo(type: type, name: uniqueName(f.name(of: fwd.outputs[0]) + ".states", in: f), role: .intermediate))
                f.nodes[fi].outputs.append(statesValue)
                f.nodes[fi].attributes["save_states"] = .bool(true)
            }
            var note = "\(name): reads the chunk-boundary states that \(fname) saves (C=\(chunk)), instead of recomputing them"
            if back.attributes.int("chunk") != chunk {
                note += "; its chunk size \(back.attributes.int("chunk")) → \(chunk), the forward's"
                f.nodes[bi].attributes["chunk"] = .int(chunk)
            }
            f.nodes[bi].attributes["saved_states"] = .bool(true)
            f.nodes[bi].inputs.append(statesValue)
            let bytes = Double(f.type(of: statesValue).elementCount) * 4
            notes.append(note + " (\(((bytes / 1_048_576) * 10).rounded() / 10) MiB)")
        }
        return f
    }

    /// Whether two values hold the same tensor: the same value, or made by the same layout op
    /// (same attributes) from the same values. The VJP rebuilds the backward's operands with
    /// reshapes of its own, so the gradient graph reads copies of the forward's operands.
    func same(_ a: ValueID, _ b: ValueID, _ f: Function, _ producers: [Int?]) -> Bool {
        if a == b { return true }
        guard let pa = producers[a.index], let pb = producers[b.index] else { return false }
        let (x, y) = (f.nodes[pa], f.nodes[pb])
        guard x.op == y.op, [.reshape, .permute, .slice, .broadcast].contains(x.op), x.attributes == y.attributes,
              x.inputs.count == y.inputs.count, x.outputs.firstIndex(of: a) == y.outputs.firstIndex(of: b) else { return false }
        return zip(x.inputs, y.inputs).allSatisfy { same($0, $1, f, producers) }
    }

    func uniqueName(_ base: String, in f: Function) -> String {
        var name = base, k = 1
        while f.value(named: name) != nil { k += 1; name = "\(base)\(k)" }
        return name
    }
}
