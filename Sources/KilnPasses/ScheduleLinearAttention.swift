import KilnIR

/// `schedule-linear-attention`: for each `linear_attention` and `linear_attention_backward`
/// op, picks the recurrent form or the chunkwise form and its chunk size C (16...256) with
/// `LinearAttentionCostModel`, and records the choice in the op's `chunk` attribute
/// (0 = recurrent). Every choice is explained in the notes: FLOPs and predicted time of the
/// chosen schedule and of the alternatives.
///
/// The third form, `parallel` (the quadratic form over the whole sequence, one chunk of C = T),
/// sets `parallel = true` on a forward op; the cost model picks it only when it predicts it
/// faster and its T x T scores fit the scratch budget. A backward op never takes it: its
/// gradients go through the chunkwise backward (the note says so).
///
/// Overrides, strongest first: the options `linear-attention-form` (recurrent | chunkwise |
/// parallel | auto) and `linear-attention-chunk` (N in 16...256, implies chunkwise); then a
/// `parallel = true` or a `chunk` > 0 already present on the op in the input IR.
public struct ScheduleLinearAttention: Pass {
    public var name: String { "schedule-linear-attention" }
    public init() {}

    public static let formOption = "linear-attention-form"
    public static let chunkOption = "linear-attention-chunk"

    /// What the options ask for.
    enum Forced: Equatable {
        case none, recurrent, chunkwise(Int?), parallel
    }

    static func parseOptions(_ options: [String: String]) throws -> Forced {
        for key in options.keys where key.hasPrefix("linear-attention-") && key != formOption && key != chunkOption {
            throw PassError("unknown option '\(key)'; schedule-linear-attention takes \(formOption)=recurrent|chunkwise|parallel|auto and \(chunkOption)=N (16...256)")
        }
        var chunk: Int?
        if let text = options[chunkOption] {
            guard let c = Int(text), (16...256).contains(c) else {
                throw PassError("\(chunkOption) must be an integer in 16...256, got '\(text)'")
            }
            chunk = c
        }
        switch options[formOption] ?? "auto" {
        case "auto": return chunk.map { .chunkwise($0) } ?? Forced.none
        case "chunkwise": return .chunkwise(chunk)
        case "recurrent":
            if let chunk { throw PassError("\(formOption)=recurrent contradicts \(chunkOption)=\(chunk)") }
            return .recurrent
        case "parallel":
            if let chunk { throw PassError("\(formOption)=parallel contradicts \(chunkOption)=\(chunk)") }
            return .parallel
        case let other:
            throw PassError("\(formOption) must be recurrent, chunkwise, parallel or auto, got '\(other)'")
        }
    }

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        let forced = try Self.parseOptions(context.options)
        let model = LinearAttentionCostModel(machine: context.machine, threads: context.threads)
        var notes: [String] = []
        let f = schedule(function, forced, model, &notes)
        return PassResult(function: f, notes: notes)
    }

    func schedule(_ function: Function, _ forced: Forced, _ model: LinearAttentionCostModel, _ notes: inout [String]) -> Function {
        var f = function
        for i in f.nodes.indices {
            f.nodes[i].regions = f.nodes[i].regions.map { schedule($0, forced, model, &notes) }
            let node = f.nodes[i]
            guard node.op == .linear_attention || node.op == .linear_attention_backward else { continue }
            let q = f.type(of: node.inputs[0]).shape, dv = f.type(of: node.inputs[2]).shape[3]
            let gate = LinearAttentionGate(rawValue: node.attributes.symbol("gate")) ?? .none
            let p = LinearAttentionProblem(gate: gate, batch: q[0], seqLen: q[1], heads: q[2], dk: q[3], dv: dv,
                                           backward: node.op == .linear_attention_backward)
            let existingParallel = node.attributes.bool("parallel")
            var (chosen, why) = decide(p, existing: node.attributes.int("chunk"), existingParallel: existingParallel, forced, model)
            if chosen.parallel && p.backward {
                // The parallel form has no backward kernel of its own: the gradients of a parallel
                // forward are those of the chunkwise schedule the cost model picks.
                let alt = decide(p, existing: 0, existingParallel: false, .chunkwise(nil), model)
                chosen = alt.0
                why += "; the parallel form has no backward kernel, so its gradients run chunkwise (\(alt.1))"
            }
            f.nodes[i].attributes["chunk"] = .int(chosen.chunk)
            if node.op == .linear_attention { f.nodes[i].attributes["parallel"] = .bool(chosen.parallel) }
            notes.append(Self.explain("%" + f.name(of: node.outputs[0]), p, chosen, why, model))
        }
        return f
    }

    func decide(_ p: LinearAttentionProblem, existing: Int, existingParallel: Bool = false, _ forced: Forced,
                _ model: LinearAttentionCostModel) -> (LinearAttentionEstimate, String) {
        switch forced {
        case .parallel:
            return (model.estimateParallel(p), "forced by \(Self.formOption)=parallel")
        case .recurrent:
            return (model.estimateRecurrent(p), "forced by \(Self.formOption)=recurrent")
        case .chunkwise(let c?):
            return (model.estimateChunkwise(p, chunk: c), "forced by \(Self.chunkOption)=\(c)")
        case .chunkwise(nil):
            let best = LinearAttentionCostModel.chunkSizes.map { model.estimateChunkwise(p, chunk: $0) }
                .filter { $0.chunk <= max(p.seqLen, 16) }.min { $0.seconds < $1.seconds }!
            return (best, "\(Self.formOption)=chunkwise; C from the cost model")
        case .none:
            if existingParallel { return (model.estimateParallel(p), "parallel = true given in the IR") }
            if existing > 0 { return (model.estimateChunkwise(p, chunk: existing), "chunk = \(existing) given in the IR") }
            let rec = model.estimateRecurrent(p)
            let best = model.best(p)
            if let reason = rec.infeasible, best.chunk > 0 { return (best, "cost model; recurrent ruled out: \(reason)") }
            return (best, "cost model")
        }
    }

    static func explain(_ value: String, _ p: LinearAttentionProblem, _ chosen: LinearAttentionEstimate, _ why: String,
                        _ model: LinearAttentionCostModel) -> String {
        let op = p.backward ? "linear_attention_backward" : "linear_attention"
        let form = chosen.parallel ? "parallel (one chunk of C = T)" : chosen.chunk == 0 ? "recurrent" : "chunkwise C=\(chosen.chunk)"
        var line = "\(value) = \(op) gate=\(p.gate) B=\(p.batch) T=\(p.seqLen) H=\(p.heads) Dk=\(p.dk) Dv=\(p.dv): "
        line += "\(form) (\(why)); predicted \(ms(chosen.seconds)), \(gflop(chosen.flops))."
        let others = model.candidates(p).filter { $0.chunk != chosen.chunk || $0.parallel != chosen.parallel }.map { e -> String in
            let name = e.parallel ? "parallel" : e.chunk == 0 ? "recurrent" : "C=\(e.chunk)"
            let fits = e.chunk > 0 && !e.parallel && e.workingSetBytes > model.machine.l2Bytes ? ", state spills L2" : ""
            let no = e.infeasible.map { ", infeasible: \($0)" } ?? ""
            return "\(name) \(ms(e.seconds)) \(gflop(e.flops))\(fits)\(no)"
        }
        return line + " Alternatives: " + others.joined(separator: "; ")
    }

    static func ms(_ s: Double) -> String { "\((s * 1e5).rounded() / 100) ms" }
    static func gflop(_ f: Double) -> String { "\((f / 1e7).rounded() / 100) GFLOP" }
}
