import ArgumentParser
import Kiln

struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List the Graph IR ops: operands, attributes and defaults (from the one op table).",
        discussion: """
        Examples:
          kiln ops
          kiln ops --markdown     # the table in IR/README.md
        """
    )

    @Flag(help: "Print a Markdown table.")
    var markdown = false

    func run() throws {
        if markdown {
            print(OpInfo.markdownTable, terminator: "")
            return
        }
        let width = OpKind.allCases.map { $0.info.signature.count }.max() ?? 0
        for k in OpKind.allCases {
            let i = k.info
            print(i.signature.padding(toLength: width + 2, withPad: " ", startingAt: 0) + i.attributeSummary)
        }
    }
}
