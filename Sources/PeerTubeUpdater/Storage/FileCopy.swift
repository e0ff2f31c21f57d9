import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies a file inside the kernel (`sendfile`: no trip through user space), falling back to
/// FileManager elsewhere. FileManager.copyItem took 9.8 s for a 2.2 GB similarity cache here, an
/// in-kernel copy (`cp`) 5.5 s.
public enum FileCopy {
    /// - Throws: a `POSIXError` naming the failing call when the source cannot be read or the copy written.
    public static func copy(_ source: String, to destination: String) throws {
        #if os(Linux)
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw StorageError.unreadable(role: "file to copy", path: source) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw StorageError.refusedPath(path: destination, reason: String(cString: strerror(errno))) }
        defer { close(output) }
        var info = stat()
        guard fstat(input, &info) == 0 else { throw StorageError.unreadable(role: "file to copy", path: source) }
        var remaining = Int(info.st_size)
        while remaining > 0 {
            let copied = sendfile(output, input, nil, min(remaining, 1 << 30))
            if copied < 0 {
                if errno == EINTR { continue }
                throw StorageError.refusedPath(path: destination, reason: "copy failed: \(String(cString: strerror(errno)))")
            }
            if copied == 0 { break }
            remaining -= copied
        }
        #else
        try FileManager.default.copyItem(atPath: source, toPath: destination)
        #endif
    }
}
