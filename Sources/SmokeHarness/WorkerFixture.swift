import Foundation
import PeerTubeUpdater

/// A smoke fixture (mini-prod from the embedded default, whitelist server, simulated federation) in
/// a temporary folder, for tests that run the real worker binary many times: the worker tests and
/// the SIGKILL sweep. The folder goes when the fixture stops.
public final class WorkerFixture: Sendable {
    /// The fixture's own temporary folder.
    public let folder: String
    public let fixture: SmokeFixture

    public static func start(repositoryRoot: String, flags: [String] = []) async throws -> WorkerFixture {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ptu-worker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        do {
            let options = try SmokeOptions.parse(["--cpu"] + flags)
            let run = try RunDirectory(base: folder + "/smoke")
            return WorkerFixture(folder: folder, fixture: try await SmokeFixture.start(options: options, run: run, repositoryRoot: repositoryRoot))
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// Runs `body` with a started fixture and stops it after, whatever happens.
    public static func with<T>(repositoryRoot: String, flags: [String] = [], _ body: (WorkerFixture) async throws -> T) async throws -> T {
        let fixture = try await start(repositoryRoot: repositoryRoot, flags: flags)
        do {
            let value = try await body(fixture)
            await fixture.stop()
            return value
        } catch {
            await fixture.stop()
            throw error
        }
    }

    private init(folder: String, fixture: SmokeFixture) {
        self.folder = folder
        self.fixture = fixture
    }

    public func stop() async {
        await fixture.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A path in the fixture's folder.
    public func path(_ name: String) -> String { "\(folder)/\(name)" }

    /// A fresh copy of the mini-prod in `name/`.
    public func layout(_ name: String) throws -> WorkerLayout { try fixture.freshLayout(name) }

    /// Runs the worker on `layout` with the suite's flags plus `extra`.
    public func run(_ layout: WorkerLayout, _ extra: [String] = [], mergeRules: String? = nil, timeLimit: Double = 600,
                    environment: [String: String] = [:]) async throws -> WorkerProcess.Outcome {
        try await fixture.worker.run(fixture.workerArguments(layout, extra: extra, mergeRules: mergeRules), layout: layout,
                                     timeLimit: timeLimit, environment: environment)
    }

    public func log(_ layout: WorkerLayout) -> String { (try? String(contentsOfFile: layout.workerLog, encoding: .utf8)) ?? "" }

    /// Every check of a finished run, against `beforePath` (default: the fixture's snapshot).
    public func checks(_ layout: WorkerLayout, _ outcome: WorkerProcess.Outcome, rules: MergeRuleSet? = nil,
                       beforePath: String? = nil, injected: Bool = true) throws -> [String: SmokeCheck] {
        let checks = try MainRun.evaluate(layout, log: WorkerLog.parse(log(layout)), exitCode: outcome.exitCode,
                                          errorLine: outcome.errorLine, beforePath: beforePath ?? fixture.beforeSnapshot,
                                          rules: rules ?? fixture.rules, device: .cpu, injected: injected)
        return Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
    }

    /// A rules file in the fixture's folder: the shipped rules with `video_embeddings` under `strategy`.
    public func rules(embeddingsStrategy strategy: String) throws -> (path: String, set: MergeRuleSet) {
        let path = path("rules-\(strategy).json")
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
