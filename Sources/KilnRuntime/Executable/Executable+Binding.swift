import KilnCodegen
import KilnIR

/// Which of a program's buffers a run may place in the caller's memory instead of the arena.
///
/// Kernels load and store with 4-byte alignment, so any f32 array will do. The memory plan
/// gives arguments slots of their own, and a result's slot is only shared with temporaries
/// whose lives do not overlap it; a buffer bound elsewhere simply leaves its slot unused.
struct CallerBinding: Sendable {
    /// Argument buffers that no step writes: read where the caller's array holds them.
    let readOnlyArguments: Set<Int>
    /// For each result, whether it is written straight into the array returned for it: an f32
    /// value computed by the program (not an argument, a constant or a repeated result).
    let directResults: [Bool]

    init(_ p: KernelProgram) {
        let written = p.writtenBuffers
        readOnlyArguments = Set(p.argumentBuffers.filter { !written.contains($0) && !p.buffers[$0].isInt })
        var seen = Set<Int>()
        directResults = p.resultBuffers.map { b in
            let buffer = p.buffers[b]
            let fresh = seen.insert(b).inserted
            return fresh && !buffer.isInt && buffer.elements > 0 && [.output, .temp].contains(buffer.role)
                && written.contains(b) && !p.argumentBuffers.contains(b)
        }
    }
}

extension Executable {
    /// Whether `run` binds caller arrays in place (on by default; off copies everything through
    /// the arena, for measuring what binding saves).
    nonisolated(unsafe) public static var bindsCallerMemory = true

    /// Runs `body` with each (buffer, array) pair bound to the array's storage.
    func withInputs<R>(_ pairs: ArraySlice<(buffer: Int, values: [Float])>, _ body: () throws -> R) throws -> R {
        guard let (b, v) = pairs.first else { return try body() }
        return try v.withUnsafeBufferPointer { p in
            // Never written (CallerBinding checked every step), so the cast only satisfies the
            // kernels' uniform pointer table.
            bound[b] = UnsafeMutablePointer(mutating: p.baseAddress!)
            defer { bound[b] = nil }
            return try withInputs(pairs.dropFirst(), body)
        }
    }

    /// Runs the steps with each direct result bound to the storage of the array that will be
    /// returned for it, then copies the other results out of the arena.
    func runIntoResults() throws -> [HostTensor] {
        let types = function.results.map { function.type(of: $0) }
        var direct: [Int: [Float]] = [:]  // by buffer
        func nest(_ i: Int) throws {
            if i == program.resultBuffers.count {
                try runSteps(program.steps)
                return
            }
            let b = program.resultBuffers[i]
            guard binding.directResults[i], Executable.bindsCallerMemory, program.buffers[b].elements == types[i].elementCount else { return try nest(i + 1) }
            let n = program.buffers[b].elements
            direct[b] = try [Float](unsafeUninitializedCapacity: n) { storage, count in
                bound[b] = storage.baseAddress!
                defer { bound[b] = nil }
                try nest(i + 1)
                count = n
            }
        }
        try nest(0)
        return zip(types, program.resultBuffers).map { t, b in
            // A result returned twice shares the first one's array (its arena slot was never written).
            if let values = direct[b] { return HostTensor(shape: t.shape, floats: values) }
            let p = pointer(b)
            if t.dtype == .i32 {
                let ip = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Int32.self)
                return HostTensor(shape: t.shape, ints: Array(UnsafeBufferPointer(start: ip, count: t.elementCount)))
            }
            return HostTensor(shape: t.shape, floats: Array(UnsafeBufferPointer(start: p, count: t.elementCount)))
        }
    }
}
