import Foundation
import GRDB
@testable import PeerTubeUpdater
import SmokeHarness

extension WorkerFixture {
    /// Phase limits three times the smoke's: the fixture's waits (serve's start, a new generation)
    /// run on the test runner's two cooperative threads, which heavy synchronous suites beside them
    /// can hold for a minute (seen: a phase doing nothing reported past its 60 s limit). A hang
    /// still ends at its limit.
    static let testTimeLimitFactor = ["--time-limit-factor", "3"]

    /// A started fixture for this repository, stopped after `body`.
    static func with<T>(_ flags: [String] = [], _ body: (WorkerFixture) async throws -> T) async throws -> T {
        try await with(repositoryRoot: repositoryRoot.path, flags: testTimeLimitFactor + flags, body)
    }
}

/// A stand-in for `systemctl` (`--systemctl-bin`) that appends "<verb> <service>" to a file;
/// `stopDelay` seconds of sleep on stop let a test signal the worker mid-stage.
func recordingSystemctl(in w: WorkerFixture, stopDelay: Int = 0) throws -> (binary: String, calls: String) {
    let calls = w.path("systemctl-calls.txt")
    let binary = w.path("fake-systemctl")
    try Data("""
        #!/bin/sh
        echo "$1 $2" >> '\(calls)'
        if [ "$1" = stop ] && [ \(stopDelay) -gt 0 ]; then sleep \(stopDelay); fi
        exit 0
        """.utf8).write(to: URL(fileURLWithPath: binary))
    chmod(binary, 0o755)
    return (binary, calls)
}

func lines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}
