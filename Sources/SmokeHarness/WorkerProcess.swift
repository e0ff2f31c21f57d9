import Foundation
import Logging

/// The paths one worker run uses, all inside one folder of the run directory.
public struct WorkerLayout: Sendable {
    public var folder: String
    public var prodDB: String { folder + "/mini-prod.db" }
    public var stagingDB: String { folder + "/staging.db" }
    public var indexPath: String { folder + "/index.faiss" }
    public var indexMetaPath: String { folder + "/index.faiss.json" }
    public var similarityDB: String { folder + "/similarity.db" }
    public var workerLog: String { folder + "/worker.log" }
    public var lockFile: String { folder + "/updater.lock" }
    /// Where the worker's stderr goes; two workers run at once on one layout need two names.
    public var stderrName = "worker.stderr.log"
    public var stderrLog: String { folder + "/" + stderrName }

    public init(folder: String) { self.folder = folder }

    /// Every path the worker will write, for the run directory's guard.
    public var writtenPaths: [String] { [prodDB, stagingDB, indexPath, indexMetaPath, similarityDB, workerLog, lockFile, stderrLog] }

    /// The worker's path flags for this layout.
    public var arguments: [String] {
        ["--prod-db", prodDB, "--staging-db", stagingDB, "--index-path", indexPath, "--index-meta-path", indexMetaPath,
         "--similarity-db", similarityDB, "--logs", workerLog, "--lock-file", lockFile]
    }
}

/// The built `peertube-updater` binary run as a real child process, so exit codes, signals and the
/// PID-based lock are the real ones.
public struct WorkerProcess: Sendable {
    public struct Outcome: Sendable {
        public var exitCode: Int32
        public var durationMs: Int
        /// The last non-empty line of stderr (the worker's one-line error).
        public var errorLine: String?
    }

    public let binary: String
    /// The runs in progress (and `serve`, started from the same binary): what a phase past its time
    /// limit kills.
    public let children: ChildProcesses

    /// `PEERTUBE_UPDATER_BIN`, else the binary beside the running test bundle or tool.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                              children: ChildProcesses = ChildProcesses()) throws -> WorkerProcess {
        let candidate = environment["PEERTUBE_UPDATER_BIN"].flatMap { $0.isEmpty ? nil : $0 }
            ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("peertube-updater").path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw SmokeError("worker binary not found at \(candidate): build it first (swift build), or set PEERTUBE_UPDATER_BIN")
        }
        return WorkerProcess(binary: candidate, children: children)
    }

    /// The command line of `peertube-updater run <arguments>`, shell-quoted: pasted into a shell, it
    /// runs the same worker again.
    public func commandLine(_ arguments: [String]) -> String {
        ([binary, "run"] + arguments).map(Self.shellQuoted).joined(separator: " ")
    }

    /// `word` as one shell word: bare when it holds only safe characters, else in single quotes.
    public static func shellQuoted(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+")
        if !word.isEmpty, word.allSatisfy(safe.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Runs `peertube-updater run <arguments>` to its end (stdout is the log's echo and is dropped;
    /// stderr goes to `layout.stderrLog`). Killed after `timeLimit` seconds. With a `logger`, its
    /// exact command line is logged first (`run: <argv>`), so a run can be repeated by hand.
    public func run(_ arguments: [String], layout: WorkerLayout, timeLimit: Double = 600,
                    environment: [String: String] = [:], logger: Logger? = nil) async throws -> Outcome {
        logger?.info("run: \(commandLine(arguments))")
        FileManager.default.createFile(atPath: layout.stderrLog, contents: nil)
        guard let stderr = FileHandle(forWritingAtPath: layout.stderrLog) else { throw SmokeError("cannot write \(layout.stderrLog)") }
        defer { try? stderr.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let clock = ContinuousClock.now
        // Wait without blocking a thread of the test runner's small pool.
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            let children = children
            process.terminationHandler = {
                children.ended($0.processIdentifier)
                continuation.resume(returning: $0.terminationStatus)
            }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: SmokeError("cannot start \(binary): \(error)"))
                return
            }
            let pid = process.processIdentifier
            children.started(pid, "worker")
            if !process.isRunning { children.ended(pid) }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeLimit) {
                if process.isRunning, process.processIdentifier == pid { kill(pid, SIGKILL) }
            }
        }
        let text = (try? String(contentsOfFile: layout.stderrLog, encoding: .utf8)) ?? ""
        let last = text.split(separator: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init)
        return Outcome(exitCode: status, durationMs: clock.elapsedMilliseconds, errorLine: last)
    }
}
