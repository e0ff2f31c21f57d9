import Foundation
import Testing
@testable import PeerTubeUpdater

extension Integration {
/// The single-run lock across real processes: the CLI binary holds it, another CLI process is refused.
@Suite struct RunLockTests {
    /// Starts `peertube-updater lock hold` on `lock` around a shell loop that ends when `release` exists,
    /// and waits until the lock is held.
    private func holdLock(_ lock: String, until release: String) throws -> RunningUpdater {
        let holder = try startUpdater(["lock", "hold", "--lock-file", lock, "--",
                                       "sh", "-c", "while [ ! -e '\(release)' ]; do sleep 0.02; done"])
        let deadline = Date().addingTimeInterval(30)
        while RunLock.state(at: lock) != .held(pid: holder.process.processIdentifier) {
            guard Date() < deadline, holder.process.isRunning else {
                Issue.record("holder never took the lock: \(holder.wait())")
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return holder
    }

    private func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test func aSecondProcessIsRefusedWhileTheFirstHoldsTheLock() throws {
        let fixture = try MergeFixture()
        let lock = fixture.dir.path("prod.lock")
        let release = fixture.dir.path("release")
        let holder = try holdLock(lock, until: release)
        let before = try fingerprints(fixture.prod)

        let refused = try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.staging, "--lock-file", lock])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("another updater run is active (pid \(holder.process.processIdentifier))"), "\(refused.stderr)")
        #expect(try fingerprints(fixture.prod) == before)

        #expect(FileManager.default.createFile(atPath: release, contents: nil))
        let held = holder.wait()
        #expect(held.status == 0, "\(held.stderr)")
        #expect(!FileManager.default.fileExists(atPath: lock))
        #expect(RunLock.state(at: lock) == .free)
    }

    /// Every alias of prod meets the lock that its real path holds: a symlink to the file, a path
    /// through a symlinked folder, a hard link, a relative path. Each merge through one is refused and
    /// prod is unchanged; after the release, a merge through an alias runs.
    @Test func everyAliasOfProdSharesOneLock() throws {
        let fixture = try MergeFixture()
        let fm = FileManager.default
        let aliases = fixture.dir.path("aliases")
        try fm.createDirectory(atPath: aliases, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: aliases + "/prod-link.db", withDestinationPath: fixture.prod)
        try fm.createSymbolicLink(atPath: aliases + "/folder-link", withDestinationPath: fixture.dir.path(""))
        try fm.linkItem(atPath: fixture.prod, toPath: aliases + "/hard-link.db")
        // From the working directory up to / and down again.
        let depth = fm.currentDirectoryPath.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + fixture.prod.drop { $0 == "/" }
        let paths = [aliases + "/prod-link.db", aliases + "/folder-link/prod.db", aliases + "/hard-link.db",
                     aliases + "/../prod.db", relative]

        let release = fixture.dir.path("release")
        let holder = try startUpdater(["lock", "hold", "--prod-db", fixture.prod, "--",
                                       "sh", "-c", "while [ ! -e '\(release)' ]; do sleep 0.02; done"])
        let lock = UpdaterDefaults().lockFile(forProd: fixture.prod)
        let deadline = Date().addingTimeInterval(30)
        while RunLock.state(at: lock) != .held(pid: holder.process.processIdentifier), Date() < deadline, holder.process.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let before = try fingerprints(fixture.prod)
        for alias in paths {
            let refused = try runUpdater(["merge", "--prod-db", alias, "--staging-db", fixture.staging])
            #expect(refused.status != 0, "\(alias)")
            #expect(refused.stderr.contains("another updater run is active"), "\(alias): \(refused.stderr)")
            #expect(RunLock.state(at: UpdaterDefaults().lockFile(forProd: alias), guarding: alias) != .free, "\(alias)")
        }
        // Symlinks name the same lock file as the real path; a hard link has its own, and meets the
        // holder at prod's inode.
        #expect(UpdaterDefaults().lockFile(forProd: aliases + "/folder-link/prod.db") == lock)
        #expect(UpdaterDefaults().lockFile(forProd: aliases + "/prod-link.db") == lock)
        #expect(try fingerprints(fixture.prod) == before)

        #expect(fm.createFile(atPath: release, contents: nil))
        #expect(holder.wait().status == 0)
        let merged = try runUpdater(["merge", "--prod-db", aliases + "/hard-link.db", "--staging-db", fixture.staging])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try fingerprints(fixture.prod) != before)
    }

    @Test func aStaleLockIsTakenOverWithAWarning() throws {
        let fixture = try MergeFixture()
        let lock = fixture.dir.path("prod.lock")
        let pid = try deadPID()
        try "\(pid)\n".write(toFile: lock, atomically: true, encoding: .utf8)
        #expect(RunLock.state(at: lock) == .stale(pid: pid))

        let run = try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.staging, "--lock-file", lock])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("taking over stale lock \(lock) (pid \(pid) is not running)"), "\(run.stdout)")
        #expect(!FileManager.default.fileExists(atPath: lock))
    }

    @Test func aKilledHolderLeavesALockThatIsStale() throws {
        let dir = try TempDir()
        let lock = dir.path("prod.lock")
        let release = dir.path("release")
        let holder = try holdLock(lock, until: release)
        kill(holder.process.processIdentifier, SIGKILL)
        holder.process.waitUntilExit()
        // The orphaned shell loop still holds the output pipes: end it before collecting output.
        #expect(FileManager.default.createFile(atPath: release, contents: nil))
        _ = holder.wait()
        #expect(FileManager.default.fileExists(atPath: lock))
        #expect(RunLock.state(at: lock) == .stale(pid: holder.process.processIdentifier))
        let next = try RunLock.acquire(at: lock, logger: quietLogger)
        #expect(RunLock.state(at: lock) == .held(pid: getpid()))
        next.release()
        #expect(RunLock.state(at: lock) == .free)
    }

    @Test func theLockFileIsGoneAfterAFailingRun() throws {
        let fixture = try MergeFixture()
        let lock = fixture.dir.path("prod.lock")
        let failed = try runUpdater(["merge", "--prod-db", fixture.prod, "--staging-db", fixture.dir.path("missing.db"),
                                     "--lock-file", lock])
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("staging DB not found"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: lock))

        let held = try runUpdater(["lock", "hold", "--lock-file", lock, "--", "sh", "-c", "exit 3"])
        #expect(held.status == 3)
        #expect(!FileManager.default.fileExists(atPath: lock))
    }

    @Test func aSecondAcquireInTheSameProcessIsRefusedToo() throws {
        let dir = try TempDir()
        let lock = dir.path("prod.lock")
        let first = try RunLock.acquire(at: lock, logger: quietLogger)
        #expect(throws: RunLockError.busy(pid: getpid(), path: lock)) { try RunLock.acquire(at: lock, logger: quietLogger) }
        first.release()
        #expect(!FileManager.default.fileExists(atPath: lock))
    }

    @Test func aLockInAMissingFolderSaysSo() throws {
        let error = #expect(throws: RunLockError.self) {
            try RunLock.acquire(at: "/nonexistent-dir/prod.lock", logger: quietLogger)
        }
        #expect(error?.description.contains("No such file or directory") == true)
    }
}
}
