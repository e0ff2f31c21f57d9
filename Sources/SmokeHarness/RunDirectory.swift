import Foundation
import PeerTubeUpdater

/// `tmp/orchestrator-smoke/<run-id>/`: every file a smoke run writes lives here. `path(_:)` refuses
/// any name that would resolve outside it or onto the configured real prod DB.
public struct RunDirectory: Sendable {
    public let runID: String
    public let base: URL
    public let url: URL
    /// The real prod DB the configuration points at: never written, never a mini-prod.
    public let realProd: String

    public init(base: String, runID: String = RunDirectory.newRunID(), realProd: String = UpdaterDefaults().prodDB) throws {
        self.runID = runID
        self.base = URL(fileURLWithPath: base).standardizedFileURL
        url = self.base.appendingPathComponent(runID).standardizedFileURL
        self.realProd = URL(fileURLWithPath: realProd).standardizedFileURL.resolvingSymlinksInPath().path
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// `20261124-103000-<pid>`: sortable, and unique across processes started in the same second.
    public static func newRunID() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(formatter.string(from: Date()))-\(getpid())"
    }

    /// The absolute path of `relative` inside the run directory, after the guard.
    public func path(_ relative: String) throws -> String {
        let candidate = url.appendingPathComponent(relative).standardizedFileURL
        try check(candidate.path)
        return candidate.path
    }

    /// Refuses a path outside the run directory or equal to the real prod DB (symlinks resolved).
    public func check(_ path: String) throws {
        let resolved = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let root = url.resolvingSymlinksInPath().path
        guard resolved == root || resolved.hasPrefix(root + "/") else {
            throw StorageError.refusedPath(path: path, reason: "outside the smoke run directory \(root)")
        }
        guard resolved != realProd else {
            throw StorageError.refusedPath(path: path, reason: "it is the configured real prod DB")
        }
    }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}
