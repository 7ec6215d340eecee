import ArgumentParser
import Foundation
import Kiln

struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile a model ahead of time to an object file or shared library with a C header.",
        discussion: """
        The output has one C entry point, NAME_run(n_args, args, arg_elements, n_results,
        results, result_elements), that checks counts, pointers and sizes and returns an
        error code (0 = success). The header lists every argument and result with its shape.

        Examples:
          kiln compile IR/models/ffn-block.kir -o libffn.so --header ffn.h
          kiln compile convnext-block -o convnext.o --header convnext.h
          cc main.c libffn.so -o main -Wl,-rpath,.
        """
    )

    @OptionGroup var options: ModelOptions

    @Option(name: .shortAndLong, help: "Output: a .o object file or a .so shared library.")
    var output: String

    @Option(help: "Also write a C header describing the entry point.")
    var header: String?

    func validate() throws {
        guard output.hasSuffix(".o") || output.hasSuffix(".so") else {
            throw ValidationError("-o \(output): use a name ending in .o or .so")
        }
    }

    func run() throws {
        try reportingErrors {
            let model = try options.load()
            let start = Date()
            let aot = try AOTCompiler(model.function)
            try aot.write(to: output)
            note(String(format: "wrote %@ (entry point %@) in %.3f s", output, aot.symbol, Date().timeIntervalSince(start)))
            if let header {
                try aot.header().write(toFile: header, atomically: true, encoding: .utf8)
                note("wrote \(header)")
            }
        }
    }
}
