import Foundation
import Testing
@testable import PeerTubeUpdater

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
