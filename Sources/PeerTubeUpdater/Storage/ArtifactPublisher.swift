import Foundation

/// Publishes a derived file (index, meta, similarity cache) so that readers only ever see a complete
/// old or a complete new version: written beside its final path under a temporary name, flushed,
/// then renamed over it in one step. The version it replaces stays as `<path>.prev`.
public enum ArtifactPublisher {
    public static func publish(to path: String, write: (_ temporaryPath: String) throws -> Void) throws {
        let temporary = "\(path).tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try write(temporary)
            try flush(temporary)
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

    private static func flush(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw StorageError.unreadable(role: "new artifact", path: path) }
        defer { close(fd) }
        fsync(fd)
    }
}
