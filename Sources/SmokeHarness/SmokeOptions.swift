import ArgumentParser
import Foundation
import PeerTubeUpdater

/// The smoke suite's flags (the spec's, with its defaults), read from the `SMOKE_ARGS` environment
/// variable by the suite and printed by `make smoke-help`.
public struct SmokeOptions: ParsableArguments, Sendable {
    public static let environmentVariable = "SMOKE_ARGS"

    /// Mode. Default: GPU when its stages can run here, else CPU.
    @OptionGroup public var device: DeviceOptions

    @Flag(name: .customLong("keep-workdir"), help: "Keep tmp/orchestrator-smoke/<run-id>/ after a PASS (it is always kept after a FAIL).")
    public var keepWorkdir = false
    @Flag(name: .customLong("skip-failure-checks"), help: "Skip the failure scenarios (the report records {\"skipped\": true}).")
    public var skipFailureChecks = false
    @Flag(name: .customLong("use-systemctl"), help: "Let the worker really stop and start --service-name around the merge (needs systemd).")
    public var useSystemctl = false

    @Option(name: .customLong("max-instances"), parsing: .unconditional, help: "Hosts taken from the instances list.")
    public var maxInstances = 3
    @Option(name: .customLong("max-channels"), parsing: .unconditional, help: "Channels kept in the mini-prod, and the worker's --max-channels.")
    public var maxChannels = 30
    @Option(name: .customLong("max-videos-pages"), parsing: .unconditional, help: "The worker's --max-videos-pages.")
    public var maxVideosPages = 1
    @Option(name: .customLong("seed-videos-limit"), parsing: .unconditional, help: "Most recent videos kept in the mini-prod.")
    public var seedVideosLimit = 2000
    @Option(parsing: .unconditional, help: "The worker's --concurrency.")
    public var concurrency = 4
    @Option(parsing: .unconditional, help: "The worker's --nlist (must stay below the mini-prod's embeddings).")
    public var nlist = 256
    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: "The worker's --timeout-ms.")
    public var timeoutMs = 5000
    @Option(name: .customLong("max-retries"), parsing: .unconditional, help: "The worker's --max-retries.")
    public var maxRetries = 2
    @Option(name: .customLong("videos-stop-after-full-pages"), parsing: .unconditional, help: "The worker's --videos-stop-after-full-pages.")
    public var videosStopAfterFullPages = 1
    @Option(name: .customLong("time-limit-factor"), parsing: .unconditional,
            help: ArgumentHelp("Multiplies every phase's time limit (each derived from its work: the texts it may embed, the vectors it indexes); past a limit the session kills what it started and reports the phase.", valueName: "factor"))
    public var timeLimitFactor = 1.0
    @Option(name: .customLong("service-name"), help: "The service --use-systemctl stops and starts. Default: $PEERTUBE_UPDATER_SERVICE or peertube-browser.")
    public var serviceName: String?

    @Option(name: .customLong("source-db"), help: ArgumentHelp("Source DB. Default: the configured prod DB ($PEERTUBE_UPDATER_PROD_DB or data/whitelist.db) if it exists, else the embedded default built from TestResources/smoke-corpus.json.", valueName: "path"))
    public var sourceDB: String?
    @Option(help: ArgumentHelp("Base folder of the run folders and last-report.json.", valueName: "path"))
    public var workdir = "tmp/orchestrator-smoke"
    @Option(name: .customLong("instances-json"), help: ArgumentHelp("Hosts to test (JoinPeerTube shape, {instances:[…]} or a list).", valueName: "path"))
    public var instancesJSON = "TestResources/test-instances.json"

    public init() {}

    public func validate() throws {
        guard maxInstances > 0, maxChannels > 0, seedVideosLimit > 0, concurrency > 0, nlist > 0, timeoutMs >= 100 else {
            throw ValidationError("--max-instances, --max-channels, --seed-videos-limit, --concurrency and --nlist must be > 0, --timeout-ms >= 100")
        }
        guard timeLimitFactor > 0, timeLimitFactor.isFinite else { throw ValidationError("--time-limit-factor must be > 0") }
        guard maxVideosPages >= 0, maxRetries >= 0, videosStopAfterFullPages >= 0 else {
            throw ValidationError("--max-videos-pages, --max-retries and --videos-stop-after-full-pages cannot be negative")
        }
    }

    /// The mode this run checks: the flag, else GPU when usable, else CPU.
    public var resolvedDevice: ComputeDevice {
        device.resolved(default: GPUStages.usable ? .gpu : .cpu)
    }

    /// The effective settings, for the report.
    public var json: JSONValue {
        .object([
            "mode": .string(resolvedDevice.rawValue), "keep_workdir": .bool(keepWorkdir),
            "skip_failure_checks": .bool(skipFailureChecks), "use_systemctl": .bool(useSystemctl),
            "max_instances": .int(Int64(maxInstances)), "max_channels": .int(Int64(maxChannels)),
            "max_videos_pages": .int(Int64(maxVideosPages)), "seed_videos_limit": .int(Int64(seedVideosLimit)),
            "concurrency": .int(Int64(concurrency)), "nlist": .int(Int64(nlist)), "timeout_ms": .int(Int64(timeoutMs)),
            "max_retries": .int(Int64(maxRetries)), "videos_stop_after_full_pages": .int(Int64(videosStopAfterFullPages)),
            "service_name": serviceName.map(JSONValue.string) ?? .null, "source_db": sourceDB.map(JSONValue.string) ?? .null,
            "workdir": .string(workdir), "instances_json": .string(instancesJSON), "time_limit_factor": .double(timeLimitFactor),
        ])
    }

    /// Parses `SMOKE_ARGS` (shell-like words: quotes and backslashes as in sh).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SmokeOptions {
        let words = try ShellWords.split(environment[environmentVariable] ?? "")
        do {
            return try parse(words)
        } catch {
            throw SmokeError("\(environmentVariable)=\"\(environment[environmentVariable] ?? "")\": \(fullMessage(for: error))")
        }
    }
}

/// A smoke-suite failure with its one-line reason.
public struct SmokeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Splits a command line into words as a POSIX shell does for quotes and backslashes (no expansion).
public enum ShellWords {
    public static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for char in line {
            if escaped {
                current.append(char)
                escaped = false
            } else if let open = quote {
                if char == open { quote = nil }
                else if char == "\\" && open == "\"" { escaped = true }
                else { current.append(char) }
            } else if char == "\\" {
                escaped = true
                inWord = true
            } else if char == "'" || char == "\"" {
                quote = char
                inWord = true
            } else if char.isWhitespace {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(char)
                inWord = true
            }
        }
        guard quote == nil, !escaped else { throw SmokeError("unbalanced quote or trailing backslash in: \(line)") }
        if inWord { words.append(current) }
        return words
    }
}
