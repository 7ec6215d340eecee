import KilnIR
import KilnPasses

/// Row code for a hidden chain (back-to-back matmuls through an expanded hidden layer):
/// the exit's row starts at its bias, then for each slice of hidden channels the entry
/// matmuls fill the slice, the pointwise nodes run on it, and the exit matmul accumulates
/// the slice's contribution. Slices stay in L2; the expanded row never exists in full, except
/// for a chain value that is a block result (a backward kernel's hidden gradient): each of its
/// slices is also stored to the full tensor. Inner values with one reader in the chain are not
/// stored at all but evaluated inside that reader's expression (GELU's derivative: a dozen
/// pointwise nodes, one pass).
extension FusedRows {
    mutating func emitChain(_ chain: HiddenChain, slices: [ValueID: Int], into out: inout [KStmt], prologue: inout [KStmt],
                            context: inout LowerContext) throws {
        let exit = body.nodes[chain.exit]
        let o = exit.outputs[0]
        let cout = schedule.channels[o.index], hs = chain.slice
        let y = fresh("y"), h0 = fresh("h0"), x = fresh("x"), c = fresh("c")
        let (yv, hv, xv, cv) = (KExpr.ivar(y), KExpr.ivar(h0) * .int(hs), KExpr.ivar(x), KExpr.ivar(c))
        let (ob, obase) = row(o, yv)
        let (ib, ibase) = row(chain.input, yv)
        let cin = schedule.channels[chain.input.index]
        // An entry read by a single cheap unary activation (MLP: linear -> ReLU) stores
        // act(acc + bias) straight from the micro-kernel's registers into the activation's slice
        // (a matmul epilogue: no pass over the slice at all). A transcendental one (GELU) stays a
        // pass: inlined into every row-kernel height it made compiling the FFN block 0.6 -> 1.1 s
        // and measured no faster. Otherwise the entry's bias is added where its output is read,
        // when only inner pointwise nodes read it (one pass: bias + activation).
        let users = body.users()
        func activation(of n: Node) -> MathFn {
            n.op == .gelu && n.attributes.symbol("approximate") == "tanh" ? .gelu_tanh : MathFn(rawValue: n.op.rawValue)!
        }
        var epilogueActivation: [Int: Int] = [:]   // entry node -> the activation node it absorbs
        var pendingBias: [ValueID: Int] = [:]
        for i in chain.entries {
            let out = body.nodes[i].outputs[0]
            let readers = users[out.index]
            if readers.count == 1, chain.inner.contains(readers[0]), body.nodes[readers[0]].inputs.count == 1, !body.results.contains(out),
               !LoopHints.isTranscendental(activation(of: body.nodes[readers[0]])) {
                epilogueActivation[i] = readers[0]
            } else if body.nodes[i].inputs.count > 2, !readers.isEmpty, readers.allSatisfy({ chain.inner.contains($0) }) {
                pendingBias[out] = argumentBuffer(body.nodes[i].inputs[2])
            }
        }
        let absorbed = Set(epilogueActivation.values)
        let producers = body.producers()
        /// Chain value, inlined chain value or (broadcast) argument `v` at pixel x, slice channel c.
        func operand(_ v: ValueID) -> KExpr {
            if let buf = slices[v] {
                let value = KExpr.load(buf, xv * .int(hs) + cv)
                return pendingBias[v].map { .fop(.add, value, .load($0, hv + cv)) } ?? value
            }
            if chain.values.contains(v), let p = producers[v.index] { return valueOf(body.nodes[p]) }
            return .load(argumentBuffer(v), broadcastIndex(v, y: yv, x: xv, c: hv + cv))
        }
        /// The value of inner (pointwise) node `n` at pixel x, slice channel c.
        func valueOf(_ n: Node) -> KExpr {
            if n.inputs.count == 1 { return .call(activation(of: n), operand(n.inputs[0])) }
            return .fop(FloatOp(rawValue: n.op.rawValue)!, operand(n.inputs[0]), operand(n.inputs[1]))
        }
        var perSlice: [KStmt] = []
        for i in (chain.entries + chain.inner).sorted() where !absorbed.contains(i) && slices[body.nodes[i].outputs[0]] != nil {
            let n = body.nodes[i]
            var buf = slices[n.outputs[0]]!
            var epilogue: TileEpilogue?
            if let act = epilogueActivation[i] {
                buf = slices[body.nodes[act].outputs[0]]!
                epilogue = TileEpilogue(shift: n.inputs.count > 2 ? argumentBuffer(n.inputs[2]) : nil, shiftOffset: hv,
                                        activation: activation(of: body.nodes[act]))
            }
            let value: KExpr
            if chain.entries.contains(i) {
                // Slices start on panel boundaries when they are whole panels; otherwise read B in place.
                let mm: TileMatmul
                if hs % context.panelWidth == 0 {
                    let wp = packed(n.inputs[1], k: cin, n: chain.hidden, prologue: &prologue, context: &context)
                    mm = TileMatmul(m: .int(width), n: .int(hs), k: .int(cin), a: ib, aOffset: ibase, aRowStride: .int(cin),
                                    b: wp, bOffset: hv * .int(cin), ldb: .int(chain.hidden), c: buf, cOffset: 0, ldc: .int(hs),
                                    accumulate: false, bPanels: context.panels(depth: cin), epilogue: epilogue)
                } else {
                    mm = TileMatmul(m: .int(width), n: .int(hs), k: .int(cin), a: ib, aOffset: ibase, aRowStride: .int(cin),
                                    b: argumentBuffer(n.inputs[1]), bOffset: hv, ldb: .int(chain.hidden),
                                    c: buf, cOffset: 0, ldc: .int(hs), accumulate: false, epilogue: epilogue)
                }
                perSlice.append(.matmul(mm))
                guard n.inputs.count > 2, pendingBias[n.outputs[0]] == nil, epilogue == nil else { continue }
                value = .fop(.add, .load(buf, xv * .int(hs) + cv), .load(argumentBuffer(n.inputs[2]), hv + cv))
            } else {
                value = valueOf(n)
            }
            perSlice.append(.loop(x, .int(width), parallel: false, [
                .loop(c, .int(hs), parallel: false, [.store(buf, xv * .int(hs) + cv, value)]),
            ]))
        }
        // Chain values that are block results: each slice also goes to the full tensor, for the
        // rows this band owns (one writer per row).
        for v in chain.stored {
            guard case .global(let full) = storage[v.index] else { continue }
            let fullBase = ((KExpr.ivar("b") * .int(schedule.rows) + yv) * .int(width) + xv) * .int(chain.hidden) + hv + cv
            perSlice.append(.ifThen(.and(.ige(yv, .ivar("r0")), .ilt(yv, .ivar("r1"))), [
                .loop(x, .int(width), parallel: false, [
                    .loop(c, .int(hs), parallel: false, [.store(full, fullBase, operand(v))]),
                ]),
            ]))
        }
        let w2 = packed(exit.inputs[1], k: chain.hidden, n: cout, prologue: &prologue, context: &context)
        perSlice.append(.matmul(TileMatmul(m: .int(width), n: .int(cout), k: .int(hs), a: slices[exit.inputs[0]]!, aOffset: 0, aRowStride: .int(hs),
                                           b: w2, bOffset: hv * .int(context.panelWidth), ldb: .int(cout),
                                           c: ob, cOffset: obase, ldc: .int(cout), accumulate: true, bPanels: context.panels(depth: chain.hidden))))
        let bias: KExpr = exit.inputs.count > 2 ? .load(argumentBuffer(exit.inputs[2]), cv) : .float(0)
        out += guarded(o, y, [
            .loop(x, .int(width), parallel: false, [
                .loop(c, .int(cout), parallel: false, [.store(ob, obase + xv * .int(cout) + cv, bias)]),
            ]),
            .loop(h0, .int(chain.hidden / hs), parallel: false, perSlice),
        ])
    }
}
