import ArgumentParser
import Foundation
import Logging
import PeerTubeUpdater
import SmokeHarness

/// Where log lines go: stdout always, and a log file when named.
struct LogOptions: ParsableArguments {
    @Option(name: [.customLong("logs"), .customLong("log-file")], help: ArgumentHelp("Also append log lines to this file.", valueName: "path"))
    var logFile: String?

    @Flag(name: .long, help: "Log debug detail too.")
    var verbose = false

    func makeLogger(_ label: String) throws -> Logger {
        let sink = try LineLogHandler.Sink(stream: FileHandle.standardOutput, filePath: logFile)
        let level: Logger.Level = verbose ? .debug : .info
        return Logger(label: label) { _ in LineLogHandler(sink: sink, level: level) }
    }
}

/// The prod DB and the single-run lock that guards it. Every command that writes prod takes the lock,
/// so a manual job can never run beside the timer's worker.
struct ProdOptions: ParsableArguments {
    @Option(name: .customLong("prod-db"), help: ArgumentHelp("The prod DB. Default: $PEERTUBE_UPDATER_PROD_DB or data/whitelist.db.", valueName: "path"))
    var prodDB: String?

    @Option(name: .customLong("lock-file"), help: ArgumentHelp("The single-run lock. Default: $PEERTUBE_UPDATER_LOCK_FILE or <prod-db>.updater.lock.", valueName: "path"))
    var lockFile: String?

    var prodPath: String { prodDB ?? UpdaterDefaults().prodDB }
    var lockPath: String { lockFile ?? UpdaterDefaults().lockFile(forProd: prodPath) }
}

/// The staging DB the crawl writes into and the merge reads.
struct StagingOptions: ParsableArguments {
    @Option(name: .customLong("staging-db"), help: ArgumentHelp("The staging DB. Default: $PEERTUBE_UPDATER_STAGING_DB or data/staging-worker.db.", valueName: "path"))
    var stagingDB: String?

    var stagingPath: String { stagingDB ?? UpdaterDefaults().stagingDB }
}

/// An error shown on one line: newlines and runs of spaces collapsed.
struct OneLineError: Error, CustomStringConvertible {
    let description: String
    init(_ error: Error) {
        description = Remedy.describe(error).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ").escapedForLog
    }

    /// What the CLI prints for `error`: argument-parser's own outcomes (help, exit codes, usage
    /// errors) as they are, every other error as one escaped line.
    static func forCommandLine(_ error: Error) -> Error {
        // Help requests and usage errors travel as argument-parser's own (partly internal) types.
        String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") ? error : OneLineError(error)
    }
}

/// The embedding model's folder (`run`, `embed`).
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model-dir"), help: ArgumentHelp("The model folder (installed by `make model`). Default: $PEERTUBE_UPDATER_MODEL_DIR or models/all-MiniLM-L6-v2.", valueName: "path"))
    var modelDir: String?

    @Option(name: .customLong("threads"), help: ArgumentHelp("Cores the model's forward passes use at most. Default: all.", valueName: "n"))
    var threads: Int?

    /// The flag, else the environment, else the default folder.
    var directory: String { ModelFiles.resolveDirectory(modelDir) }

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads \(threads): must be at least 1") }
    }
}
