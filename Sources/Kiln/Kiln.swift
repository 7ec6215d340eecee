// The public face of Kiln: one import gives the IR, the front end and the runtime.
@_exported import KilnIR
@_exported import KilnFrontend
@_exported import KilnAutodiff
@_exported import KilnPasses
@_exported import KilnRuntime
@_exported import KilnCodegen

/// Version of the Kiln toolchain, printed by `kiln --version`.
public let kilnVersion = "0.1.0"
