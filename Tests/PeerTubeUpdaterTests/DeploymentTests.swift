import Foundation
import HTTPServing
import Testing
@testable import PeerTubeUpdater

/// The systemd unit and timer shipped in `deploy/systemd/`: the daily schedule of the original
/// system, and environment names the updater really reads.
@Suite struct DeploymentTests {
    private func settings(_ file: String) throws -> [String: [String]] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/systemd/\(file)"), encoding: .utf8)
        var values: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") && line.contains("=") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            values[parts[0], default: []].append(parts[1])
        }
        return values
    }

    @Test func theTimerRunsDailyAsTheOriginalSystemDoes() throws {
        let timer = try settings("peertube-updater.timer")
        #expect(timer["OnBootSec"] == ["10m"] && timer["OnUnitInactiveSec"] == ["1d"] && timer["Persistent"] == ["true"])
        #expect(timer["Unit"] == ["peertube-updater.service"] && timer["WantedBy"] == ["timers.target"])
    }

    @Test func theServiceRunsTheWorkerWithPathsTheUpdaterReads() throws {
        let service = try settings("peertube-updater.service")
        #expect(service["Type"] == ["oneshot"])
        #expect(service["ExecStart"]?.first?.hasPrefix("/usr/local/bin/peertube-updater run") == true)
        var environment: [String: String] = [:]
        for assignment in service["Environment"] ?? [] {
            let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            environment[parts[0]] = parts[1]
        }
        let defaults = UpdaterDefaults(environment: environment)
        #expect(defaults.prodDB == "/var/lib/peertube-updater/whitelist.db")
        #expect(defaults.workerLog == "/var/log/peertube-updater/updater-worker.log")
        #expect(ModelFiles.resolveDirectory(nil, environment: environment) == "/usr/local/share/peertube-updater/models/all-MiniLM-L6-v2")
        // Every folder the run writes is writable under ProtectSystem=strict.
        let writable = Set((service["ReadWritePaths"]?.first ?? "").split(separator: " ").map(String.init))
        for path in [defaults.prodDB, defaults.workerLog, defaults.indexPath, defaults.similarityDB, defaults.stagingDB] {
            #expect(writable.contains((path as NSString).deletingLastPathComponent), "\(path)")
        }
        #expect(service["ExecStart"]?.first?.contains("--use-systemctl") == false, "serve runs beside the worker")
    }

    @Test func theReadAPIRunsBesideTheWorkerOnItsFiles() throws {
        let serve = try settings("peertube-updater-serve.service")
        let worker = try settings("peertube-updater.service")
        #expect(serve["Type"] == ["simple"] && serve["Restart"] == ["on-failure"])
        #expect(serve["ExecStart"]?.first?.hasPrefix("/usr/local/bin/peertube-updater serve --address 127.0.0.1") == true)
        #expect(serve["User"] == worker["User"])
        // The same data and model as the worker: it reads what the worker publishes.
        for key in ["PEERTUBE_UPDATER_DATA_DIR", "PEERTUBE_UPDATER_MODEL_DIR"] {
            #expect(serve["Environment"]?.first { $0.hasPrefix(key + "=") } == worker["Environment"]?.first { $0.hasPrefix(key + "=") }, "\(key)")
        }
        // A WAL reader writes the -shm index beside prod and the cache.
        let dataDir = UpdaterDefaults(environment: ["PEERTUBE_UPDATER_DATA_DIR": "/var/lib/peertube-updater"])
        #expect(serve["ReadWritePaths"] == [(dataDir.prodDB as NSString).deletingLastPathComponent])
        #expect(serve["WantedBy"] == ["multi-user.target"])
        // Descriptors for the connection cap, and a stop timeout past serve's shutdown grace.
        let files = serve["LimitNOFILE"]?.first.flatMap(Int.init) ?? 0
        #expect(files >= HTTPLimits().maxConnections + 64, "LimitNOFILE \(files) holds --max-connections \(HTTPLimits().maxConnections)")
        #expect((serve["TimeoutStopSec"]?.first.flatMap(Int.init) ?? 0) > Int(HTTPLimits().shutdownGrace.components.seconds))
    }
}
