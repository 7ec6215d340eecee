import KilnIR

extension RowSchedule {
    /// The `pixelReduce` step of `node` when it reduces image rows over every pixel into a
    /// non-spatial value: reduce_sum over all axes but the channels, or the weight gradient
    /// of a same-size 1x1 dense or k x k depthwise convolution. Nil for any other node.
    static func pixelReduction(_ node: Node, body: Function, spatial: [Bool], channels: [Int], rank: Int) throws -> Step? {
        guard let first = node.inputs.first, spatial[first.index], !spatial[node.outputs[0].index] else { return nil }
        switch node.op {
        case .reduce_sum:
            guard node.attributes.ints("axes") == Array(0..<(rank - 1)), !node.attributes.bool("keepdims") else { return nil }
            return .pixelReduce(kh: 0, kw: 0, top: 0, left: 0)
        case .conv2d_backward_weight:
            guard rank == 4, spatial[node.inputs[1].index] else { return nil }
            let a = node.attributes, k = a.ints("kernel"), pad = a.ints("padding")
            let (cin, cout) = (channels[first.index], channels[node.inputs[1].index])
            guard a.ints("stride") == [1, 1], a.ints("dilation") == [1, 1], pad[0] + pad[1] == k[0] - 1, pad[2] + pad[3] == k[1] - 1 else {
                throw PassError("conv2d_backward_weight with stride \(a.ints("stride")), dilation \(a.ints("dilation")), padding \(pad) changes the image size")
            }
            let groups = a.int("groups")
            if groups == 1 && k == [1, 1] { return .pixelReduce(kh: 1, kw: 1, top: 0, left: 0) }
            guard groups == cin, cin == cout else { throw PassError("conv2d_backward_weight of a \(k) convolution with \(groups) groups") }
            return .pixelReduce(kh: k[0], kw: k[1], top: pad[0], left: pad[2])
        default:
            return nil
        }
    }
}
