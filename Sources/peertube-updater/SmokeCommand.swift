import ArgumentParser
import Foundation
import SmokeHarness

/// The Smoke suite without a Swift toolchain: the same session (`SmokeHarness`) the Swift Testing suite
/// runs, for machines that have the built binary and no test runner (a GPU machine, an operator's host).
struct SmokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke",
        abstract: "Run the Smoke suite: the whole worker on a mini-prod against a simulated federation on 127.0.0.1.",
        discussion: """
            Builds the fixture (source DB, the hosts of --instances-json, the pruned mini-prod, a whitelist server and \
            the simulated federation), runs this binary's own `run` with --inject-replace-embedding-for-test and checks \
            every invariant, then the failure scenarios before_merge, during_ann_build and \
            after_merge_before_similarity. The report is <workdir>/last-report.json (and <run-id>/report.json with \
            --keep-workdir). Exit status 0 only when the report says pass.

            Paths (TestResources/, the model under models/, the workdir) are taken relative to --repository-root.

            Examples:
              peertube-updater smoke --cpu --keep-workdir
              peertube-updater smoke --gpu --max-instances 3 --nlist 256
            """
    )

    @OptionGroup var options: SmokeOptions
    @Option(name: .customLong("repository-root"), help: ArgumentHelp("The folder holding TestResources/ and models/. Default: the current folder.", valueName: "path"))
    var repositoryRoot: String?

    func run() async throws {
        let root = repositoryRoot ?? FileManager.default.currentDirectoryPath
        try await SmokeSession.runAll(options: options, repositoryRoot: root)
    }
}
