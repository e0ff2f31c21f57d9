import Foundation
import GRDB
import Logging
@testable import PeerTubeUpdater
import SmokeHarness

/// A fresh folder under the system temp dir, removed when the value is released.
final class TempDir: @unchecked Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ptu-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A logger that discards everything (tests assert on values, not on log text).
let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// A logger whose lines the test can read back.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    var lines: [String] { lock.withLock { storage } }
    var logger: Logger {
        Logger(label: "captured") { _ in CapturingHandler(log: self) }
    }
    fileprivate func append(_ line: String) { lock.withLock { storage.append(line) } }
}

private struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { log.append("\(event.level) \(event.message)") }
}

/// Creates a database file with the updater's layouts: prod (with popularity) or staging.
@discardableResult
func makeDatabase(at path: String, prod: Bool, embeddings: Bool = true) throws -> DatabaseQueue {
    let queue = try DatabaseFile.open(path, role: "test DB", access: .create)
    try queue.write { db in
        try db.execute(sql: Schema.crawlerTables)
        if embeddings { try db.execute(sql: Schema.videoEmbeddingsTable) }
        if prod { try PopularityRecompute.ensureColumn(db) }
    }
    return queue
}

/// One video row with the fields tests care about; the rest take fixed values.
struct VideoRow {
    var id: String
    var host: String
    var title: String = "A video"
    var views: Int? = 10
    var likes: Int? = 1
    var publishedAt: Int64? = 1_700_000_000_000

    func insert(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO videos(video_id, instance_domain, channel_id, title, views, likes, published_at, last_checked_at)
            VALUES (?, ?, 'c1', ?, ?, ?, ?, 1700000000000)
            """, arguments: [id, host, title, views, likes, publishedAt])
    }
}

func insertInstance(_ host: String, _ db: Database) throws {
    try db.execute(sql: "INSERT INTO instances(host) VALUES (?)", arguments: [host])
}

func insertChannel(_ id: String, _ host: String, name: String = "chan", _ db: Database) throws {
    try db.execute(sql: "INSERT INTO channels(channel_id, instance_domain, channel_name) VALUES (?, ?, ?)",
                   arguments: [id, host, name])
}

func insertEmbedding(_ id: String, _ host: String, firstValue: Float, _ db: Database) throws {
    var vector = [Float](repeating: 0.05, count: 384)
    vector[0] = firstValue
    try db.execute(sql: """
        INSERT INTO video_embeddings(video_id, instance_domain, embedding, embedding_dim, model_name, created_at)
        VALUES (?, ?, ?, 384, 'all-MiniLM-L6-v2', '2026-01-01T00:00:00+00:00')
        """, arguments: [id, host, EmbeddingBlob.encode(vector)])
}

/// Fingerprints of every table of a DB file, for "unchanged" assertions.
func fingerprints(_ path: String) throws -> [String: TableFingerprint] {
    try DatabaseFile.open(path, role: "test DB", access: .readOnly).read { try TableFingerprint.ofAllTables(in: $0) }
}

/// The built `peertube-updater` binary (beside the test bundle, or `PEERTUBE_UPDATER_BIN`).
func updaterBinary() -> URL {
    do {
        return URL(fileURLWithPath: try WorkerProcess.locate().binary)
    } catch {
        fatalError("\(error)")
    }
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the CLI as a real child process and waits for it.
func runUpdater(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    let process = try startUpdater(arguments, environment: environment)
    return process.wait()
}

/// A CLI child process still running; `wait()` collects its output.
final class RunningUpdater: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()

    init(_ arguments: [String], environment: [String: String]) throws {
        process.executableURL = updaterBinary()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    func wait() -> ProcessResult {
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }
}

func startUpdater(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningUpdater {
    try RunningUpdater(arguments, environment: environment)
}

/// `runUpdater` for async tests: the wait happens on a thread of its own, not on one of the test
/// runner's two cooperative threads (which the in-process simulators of other suites need: a
/// child that runs for minutes must not starve them), nor on the global queue's few.
func runUpdaterAsync(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
    let process = try startUpdater(arguments, environment: environment)
    return await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: process.wait()) }
    }
}

/// The repository root (tests read `TestResources/` and the installed model from it).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

func testResource(_ relative: String) -> String { repositoryRoot.appendingPathComponent("TestResources/\(relative)").path }

/// The installed model (`make model`), shared by every test that needs it: loaded once.
enum InstalledModel {
    static var directory: String {
        ModelFiles.resolveDirectory(nil).hasPrefix("/") ? ModelFiles.resolveDirectory(nil)
            : repositoryRoot.appendingPathComponent(ModelFiles.resolveDirectory(nil)).path
    }
    static let embedder: Result<SentenceEmbedder, Error> = Result { try SentenceEmbedder(modelDirectory: directory, device: .cpu) }
}

/// The suites that start the `peertube-updater` binary or serve HTTP on loopback live in this
/// namespace, so `swift test --filter Integration` runs them and `--skip Integration` runs only the
/// pure unit suites (real SQLite files, real model, real FAISS, no child process, no server).
enum Integration {}
