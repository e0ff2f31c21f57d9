import Foundation
import GRDB
@testable import PeerTubeUpdater
import SmokeHarness

/// A smoke fixture (mini-prod from the embedded default, whitelist server, simulated federation) in
/// a temporary folder, for tests that run the real worker binary.
final class WorkerFixture: @unchecked Sendable {
    let temp: TempDir
    let fixture: SmokeFixture

    static func start(_ flags: [String] = []) async throws -> WorkerFixture {
        let temp = try TempDir()
        let options = try SmokeOptions.parse(["--cpu"] + flags)
        let run = try RunDirectory(base: temp.path("smoke"))
        return WorkerFixture(temp: temp, fixture: try await SmokeFixture.start(options: options, run: run, repositoryRoot: repositoryRoot.path))
    }

    /// Runs `body` with a started fixture and stops it after, whatever happens.
    static func with<T>(_ flags: [String] = [], _ body: (WorkerFixture) async throws -> T) async throws -> T {
        let fixture = try await start(flags)
        do {
            let value = try await body(fixture)
            await fixture.stop()
            return value
        } catch {
            await fixture.stop()
            throw error
        }
    }

    private init(temp: TempDir, fixture: SmokeFixture) {
        self.temp = temp
        self.fixture = fixture
    }

    func stop() async { await fixture.stop() }

    /// A fresh copy of the mini-prod in `name/`.
    func layout(_ name: String) throws -> WorkerLayout { try fixture.freshLayout(name) }

    /// Runs the worker on `layout` with the suite's flags plus `extra`.
    func run(_ layout: WorkerLayout, _ extra: [String] = [], mergeRules: String? = nil, timeLimit: Double = 600,
             environment: [String: String] = [:]) async throws -> WorkerProcess.Outcome {
        try await fixture.worker.run(fixture.workerArguments(layout, extra: extra, mergeRules: mergeRules), layout: layout,
                                     timeLimit: timeLimit, environment: environment)
    }

    func log(_ layout: WorkerLayout) -> String { (try? String(contentsOfFile: layout.workerLog, encoding: .utf8)) ?? "" }

    /// Every check of a finished run, against `beforePath` (default: the fixture's snapshot).
    func checks(_ layout: WorkerLayout, _ outcome: WorkerProcess.Outcome, rules: MergeRuleSet? = nil,
                beforePath: String? = nil, injected: Bool = true) throws -> [String: SmokeCheck] {
        let checks = try MainRun.evaluate(layout, log: WorkerLog.parse(log(layout)), exitCode: outcome.exitCode,
                                          errorLine: outcome.errorLine, beforePath: beforePath ?? fixture.beforeSnapshot,
                                          rules: rules ?? fixture.rules, gpu: false, injected: injected)
        return Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
    }

    /// A rules file in the temp folder: the shipped rules with `video_embeddings` under `strategy`.
    func rules(embeddingsStrategy strategy: String) throws -> (path: String, set: MergeRuleSet) {
        let path = temp.path("rules-\(strategy).json")
        try Data("""
            {"tables": [
              {"name": "instances", "strategy": "INSERT_ONLY", "keys": ["host"]},
              {"name": "channels", "strategy": "INSERT_ONLY", "keys": ["channel_id", "instance_domain"]},
              {"name": "videos", "strategy": "INSERT_ONLY", "keys": ["video_id", "instance_domain"]},
              {"name": "video_embeddings", "strategy": "\(strategy)", "keys": ["video_id", "instance_domain"]}
            ]}
            """.utf8).write(to: URL(fileURLWithPath: path))
        return (path, try MergeRuleSet.load(from: path))
    }
}

/// A stand-in for `systemctl` (`--systemctl-bin`) that appends "<verb> <service>" to a file;
/// `stopDelay` seconds of sleep on stop let a test signal the worker mid-stage.
func recordingSystemctl(in temp: TempDir, stopDelay: Int = 0) throws -> (binary: String, calls: String) {
    let calls = temp.path("systemctl-calls.txt")
    let binary = temp.path("fake-systemctl")
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
