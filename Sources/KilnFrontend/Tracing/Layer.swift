import KilnIR

/// A model component: a value type whose stored `Parameter`s, nested layers, and arrays and
/// optionals of them hold its parameters (found by reflection, in declaration order).
/// Every other stored property is configuration.
///
/// ```swift
/// struct Block: Layer {
///     var norm = LayerNorm(96)        // parameters "norm.weight", "norm.bias"
///     var fcs = [Linear(96, 96)]      // "fcs.0.weight", "fcs.0.bias"
///     var gamma = Parameter([96], .constant(0.1))   // "gamma"
///     let heads = 4                   // configuration
///     func callAsFunction(_ x: Tensor) -> Tensor { x + fcs[0](norm(x)) * gamma }
/// }
/// ```
public protocol Layer {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// What a reflection walk over a layer finds: each parameter once with its dotted path,
/// and the type name of every layer path (for diagnostics).
struct LayerInventory {
    /// Each parameter object once, in declaration order. An object stored in two places
    /// (a tied weight) keeps its first path.
    private(set) var parameters: [(path: String, parameter: Parameter)] = []
    /// Parameter object -> its dotted path.
    private(set) var names: [ObjectIdentifier: String] = [:]
    /// Layer path -> type name without generic arguments ("" is the root layer).
    private(set) var layerTypes: [String: String] = [:]

    init(_ root: Any) { walk(root, path: "") }

    private mutating func walk(_ value: Any, path: String) {
        if let p = value as? Parameter {
            if names[ObjectIdentifier(p)] == nil {
                names[ObjectIdentifier(p)] = path
                parameters.append((path, p))
            }
            return
        }
        let mirror = Mirror(reflecting: value)
        let style = mirror.displayStyle
        if value is Layer {
            layerTypes[path] = String(String(describing: type(of: value)).prefix { $0 != "<" })
        } else if style != .collection && style != .optional && style != .tuple {
            // Only layers and containers of them can hold parameters; a plain struct, enum or
            // closure stored in a layer is configuration, so the walk stops here.
            return
        }
        for (i, child) in mirror.children.enumerated() {
            let label: String
            switch style {
            case .optional: label = ""
            case .collection: label = String(i)
            // Property wrappers and lazy vars store as `_name`, unlabeled tuple elements as `.0`;
            // the names users see have neither prefix.
            default:
                let raw = child.label ?? String(i)
                label = raw.hasPrefix("_") || raw.hasPrefix(".") ? String(raw.dropFirst()) : raw
            }
            let childPath = label.isEmpty ? path : (path.isEmpty ? label : path + "." + label)
            walk(child.value, path: childPath)
        }
    }
}
