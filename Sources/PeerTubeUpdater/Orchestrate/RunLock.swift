import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

public enum RunLockError: Error, CustomStringConvertible, Equatable {
    case busy(pid: Int32?, path: String)
    /// Another run holds the prod file itself, reached through another path (a symlink, a hard link).
    case prodBusy(prod: String)
    case io(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case let .prodBusy(prod): return "another updater run is active on prod \(prod) (it holds the same file through another path)"
        case let .busy(pid?, path): return "another updater run is active (pid \(pid)); lock file \(path)"
        case let .busy(nil, path): return "another updater run is active; lock file \(path)"
        case let .io(path, operation, code): return "lock file \(path): \(operation) failed: \(String(cString: strerror(code)))"
        }
    }
}

// MARK: - RunLock

/// The single-run lock: a file created exclusively, holding the owner's PID, and an exclusive
/// `flock` on the prod file it guards.
///
/// The prod flock keys the lock on the file's identity (device and inode), so every alias of prod —
/// a relative or absolute path, a symlinked file or folder, a hard link — meets the same lock even
/// where the lock files differ. (SQLite locks with `fcntl`, which never conflicts with `flock`, so
/// readers and the run's own connections are unaffected.) The default lock file lives beside the
/// canonical prod path (`UpdaterDefaults.lockFile`), so aliases share it too.
///
/// The owner also holds an advisory `flock` on the file for as long as it runs. The kernel drops that
/// lock when the process dies, however it dies (SIGKILL, OOM), so "is the holder alive?" is answered
/// by the kernel rather than by `kill(pid, 0)`, which a recycled PID fools. A lock file whose flock is
/// free is stale and is taken over with a warning; the PID it holds only names the culprit. Lock files
/// written by the original Python worker carry no flock, so a free flock with a PID that is alive and
/// still an updater process counts as busy too.
public final class RunLock: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    private var prodFD: Int32
    private let mutex = NSLock()

    private init(path: String, fd: Int32, prodFD: Int32) {
        self.path = path
        self.fd = fd
        self.prodFD = prodFD
    }

    deinit { release() }

    /// Takes the lock at `path`, and the flock of `prod` when that file exists.
    ///
    /// - Throws: `RunLockError.busy` when another run holds the lock file, `.prodBusy` when another
    ///   run holds prod through another path, `.io` when a file cannot be created, opened or locked.
    public static func acquire(at path: String, guarding prod: String? = nil, logger: Logger) throws -> RunLock {
        let prodFD = try prod.map(lockProdFile) ?? -1
        do {
            let lock = try acquireFile(at: path, logger: logger)
            lock.prodFD = prodFD
            return lock
        } catch {
            if prodFD >= 0 { close(prodFD) }
            throw error
        }
    }

    /// An exclusive flock on the prod file (-1 when it does not exist yet: nothing to guard).
    private static func lockProdFile(_ prod: String) throws -> Int32 {
        let fd = open(prod, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return -1 }
            throw RunLockError.io(path: prod, operation: "open", errno: errno)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw RunLockError.prodBusy(prod: prod) }
            throw RunLockError.io(path: prod, operation: "flock", errno: code)
        }
        return fd
    }

    private static func acquireFile(at path: String, logger: Logger) throws -> RunLock {
        // A few rounds at most: each retry means another process released or replaced the file
        // between two of our system calls.
        for _ in 0..<8 {
            let created = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if created < 0 && errno != EEXIST {
                throw RunLockError.io(path: path, operation: "create", errno: errno)
            }
            let fd = created >= 0 ? created : open(path, O_RDWR | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { continue }  // released between our two calls: try to create again
                throw RunLockError.io(path: path, operation: "open", errno: errno)
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                let holder = readPID(fd)
                close(fd)
                if code == EWOULDBLOCK { throw RunLockError.busy(pid: holder, path: path) }
                throw RunLockError.io(path: path, operation: "flock", errno: code)
            }
            // We hold the flock of the inode we opened; make sure it is still the one at `path`.
            guard sameFile(fd, path) else {
                close(fd)
                continue
            }
            if created < 0 {
                let holder = readPID(fd)
                if let holder, holder != getpid(), isLiveUpdater(holder) {
                    close(fd)
                    throw RunLockError.busy(pid: holder, path: path)
                }
                logger.warning("taking over stale lock \(path) (pid \(holder.map(String.init) ?? "unknown") is not running)")
            }
            let lock = RunLock(path: path, fd: fd, prodFD: -1)
            try lock.writePID()
            return lock
        }
        throw RunLockError.busy(pid: nil, path: path)
    }

    /// Runs `body` under the lock at `path` (and on `prod`), releasing it on every exit path.
    ///
    /// - Throws: what `acquire` throws, and what `body` throws.
    public static func withLock<T>(at path: String, guarding prod: String? = nil, logger: Logger,
                                   _ body: () throws -> T) throws -> T {
        let lock = try acquire(at: path, guarding: prod, logger: logger)
        defer { lock.release() }
        return try body()
    }

    /// Removes the file and drops the flock. Safe to call more than once.
    public func release() {
        mutex.lock()
        defer { mutex.unlock() }
        guard fd >= 0 else { return }
        // Unlink before close: once the flock is free, the file at `path` must not be ours any more.
        if Self.sameFile(fd, path) { unlink(path) }
        close(fd)
        fd = -1
        if prodFD >= 0 { close(prodFD) }
        prodFD = -1
    }

    private func writePID() throws {
        let text = "\(getpid())\n"
        guard ftruncate(fd, 0) == 0 else { throw RunLockError.io(path: path, operation: "truncate", errno: errno) }
        let written = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        guard written == text.utf8.count else { throw RunLockError.io(path: path, operation: "write", errno: errno) }
        fsync(fd)
    }

    public enum State: Equatable, Sendable {
        case free
        case held(pid: Int32?)
        /// A lock file whose owner is gone; the next `acquire` takes it over.
        case stale(pid: Int32?)
    }

    /// The lock's state, read without changing anything: the lock file's, or held when another run
    /// holds `prod` through another path.
    public static func state(at path: String, guarding prod: String? = nil) -> State {
        if let prod {
            let fd = open(prod, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                defer { close(fd) }
                if flock(fd, LOCK_SH | LOCK_NB) != 0 { return .held(pid: nil) }
                flock(fd, LOCK_UN)
            }
        }
        return lockFileState(at: path)
    }

    private static func lockFileState(at path: String) -> State {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .free }
        defer { close(fd) }
        let pid = readPID(fd)
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return .held(pid: pid) }
        flock(fd, LOCK_UN)
        if let pid, pid != getpid(), isLiveUpdater(pid) { return .held(pid: pid) }
        return .stale(pid: pid)
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text), pid > 0 else { return nil }
        return pid
    }

    private static func sameFile(_ fd: Int32, _ path: String) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(fd, &open) == 0, stat(path, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// A process that exists and whose command line names an updater. A PID reused by an unrelated
    /// process after a crash is not a holder.
    private static func isLiveUpdater(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return true }
        return String(decoding: cmdline, as: UTF8.self).lowercased().contains("updater")
    }
}
