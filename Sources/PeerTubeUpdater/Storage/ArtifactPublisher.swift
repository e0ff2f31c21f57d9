import Foundation

/// Publishes a derived file (index, meta, similarity cache) so that readers only ever see a complete
/// old or a complete new version: written beside its final path under a temporary name, flushed,
/// then renamed over it in one step. The version it replaces stays as `<path>.prev`. Files that must
/// change together use `ArtifactGenerations`.
public enum ArtifactPublisher {
    /// - Throws: what `write` throws, and a file-system error when the fsync or rename fails; the published
    ///   file is then unchanged.
    public static func publish(to path: String, write: (_ temporaryPath: String) throws -> Void) throws {
        let temporary = "\(path).tmp-\(ProcessInfo.processInfo.processIdentifier)"
        removeAbandonedTemporaries(of: path)
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try write(temporary)
            try flush(temporary)
            try FaultPlan.reach(.published((path as NSString).lastPathComponent))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        if FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.removeItem(atPath: path + ".prev")
            // A hard link keeps the old version reachable without ever leaving `path` empty.
            guard link(path, path + ".prev") == 0 else {
                throw StorageError.refusedPath(path: path, reason: "cannot keep the previous version as .prev (errno \(errno))")
            }
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(atPath: temporary)
            throw StorageError.refusedPath(path: path, reason: "rename failed: \(String(cString: strerror(code)))")
        }
    }

    /// Temporary files of writers that died before renaming (SIGKILL, power cut): `<path>.tmp-<pid>`
    /// whose process is gone. A similarity cache's is gigabytes, so they must not pile up.
    static func removeAbandonedTemporaries(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        let prefix = (path as NSString).lastPathComponent + ".tmp-"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)) else { continue }
            if writerIsGone(pid) {
                try? FileManager.default.removeItem(atPath: folder.isEmpty ? name : "\(folder)/\(name)")
            }
        }
    }

    /// True when no process `pid` exists: the writer of a temporary with that pid died before renaming.
    static func writerIsGone(_ pid: Int32) -> Bool {
        pid > 0 && kill(pid, 0) != 0 && errno == ESRCH
    }

    static func flush(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw StorageError.unreadable(role: "new artifact", path: path) }
        defer { close(fd) }
        fsync(fd)
    }

    /// Makes renames in `folder` durable.
    static func flush(folder: String) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
