import KilnIR

/// A model component: a value type whose stored `Parameter`s (and nested layers, arrays
/// and optionals of them) are its parameters, found by reflection in declaration order.
/// Every other stored property is configuration.
public protocol Layer {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// What a reflection walk finds: parameters with dotted paths, and the type of each layer path.
struct LayerInventory {
    var parameters: [(path: String, parameter: Parameter)] = []
    var layerTypes: [String: String] = [:]

    init(_ root: Any) { walk(root, path: "") }

    private mutating func walk(_ value: Any, path: String) {
        if let p = value as? Parameter {
            parameters.append((path, p))
            return
        }
        if value is Layer { layerTypes[path] = String(describing: type(of: value)).components(separatedBy: "<")[0] }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct, .class, .optional, .collection, .tuple, .enum:
            break
        default:
            return
        }
        // Only layers, collections and optionals can hold parameters; skip plain values quickly.
        guard value is Layer || mirror.displayStyle == .collection || mirror.displayStyle == .optional
            || mirror.displayStyle == .tuple else { return }
        for (i, child) in mirror.children.enumerated() {
            var label: String
            switch mirror.displayStyle {
            case .optional: label = ""
            case .collection: label = String(i)
            default: label = child.label.map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 } ?? String(i)
            }
            let childPath = label.isEmpty ? path : (path.isEmpty ? label : path + "." + label)
            walk(child.value, path: childPath)
        }
    }

    /// Each parameter object once, in declaration order (a shared object keeps its first path).
    var unique: [(path: String, parameter: Parameter)] {
        var seen = Set<ObjectIdentifier>()
        return parameters.filter { seen.insert(ObjectIdentifier($0.parameter)).inserted }
    }
}
