import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import PeerTubeUpdater
import Synchronization

/// `serving_during_update`: `peertube-updater serve` as a real child process over a layout while the
/// worker updates that layout, and a client sending requests to every endpoint at a fixed rate
/// (loopback only, bounded in count and time).
///
/// Each URL is asked once before the update (the old generation's answer) and once after serve has
/// switched to the new generation; every answer given during the update must be byte for byte one
/// of the two. An answer that mixed generations (a list of one with the metadata of the other, a
/// neighbour missing from prod) equals neither. Failed: no answer, a 5xx, or a status of neither.
public final class ServingLoad: Sendable {
    public struct Sample: Sendable {
        var url: String
        var status: Int
        var body: Data
        var generation: Int?
        var milliseconds: Double
        var duringUpdate: Bool
    }

    /// How `serve` ended: SIGTERM (as `systemctl stop` sends), then SIGKILL past the grace period.
    public struct Stop: Sendable {
        public var exitStatus: Int32
        public var milliseconds: Int
        /// It outlived the grace period and was killed.
        public var killed: Bool
        /// The log's first line of a Swift concurrency misuse (a continuation leaked or resumed twice).
        public var misuse: String?

        /// Exited by itself with status 0 within the grace period, and said nothing of a misuse.
        public var clean: Bool { !killed && exitStatus == 0 && misuse == nil }

        var json: JSONValue {
            .object(["rc": .int(Int64(exitStatus)), "ms": .int(Int64(milliseconds)), "killed": .bool(killed), "clean": .bool(clean)])
        }
    }

    public struct Result: Sendable {
        public var requests: Int
        public var duringUpdate: Int
        public var failed: Int
        public var inconsistent: Int
        public var generationsSeen: [Int]
        public var ratePerSecond: Int
        public var latencyDuring: (p50: Double, p99: Double)
        public var latencyOutside: (p50: Double, p99: Double)
        public var stop: Stop
        public var checks: [SmokeCheck]
        public var passed: Bool { !checks.isEmpty && checks.allSatisfy(\.passed) }

        public var json: JSONValue {
            func latency(_ value: (p50: Double, p99: Double)) -> JSONValue {
                .object(["p50": .double((value.p50 * 100).rounded() / 100), "p99": .double((value.p99 * 100).rounded() / 100)])
            }
            return .object([
                "pass": .bool(passed), "requests": .int(Int64(requests)), "during_update": .int(Int64(duringUpdate)),
                "failed": .int(Int64(failed)), "inconsistent": .int(Int64(inconsistent)), "rate_per_s": .int(Int64(ratePerSecond)),
                "generations_seen": .array(generationsSeen.map { .int(Int64($0)) }),
                "latency_ms": .object(["during_update": latency(latencyDuring), "outside_update": latency(latencyOutside)]),
                "stop": stop.json,
                "checks": .object(Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0.json) })),
            ])
        }
    }

    private let process: Process
    private let children: ChildProcesses
    private let logPath: String
    private let base: String
    private let session: URLSession
    private let samples = Mutex<[Sample]>([])
    /// One request every `1 / ratePerSecond` seconds, whatever the answers take (an open loop).
    public let ratePerSecond: Int
    /// The fewest requests that must be sent while the update runs for the figures to mean anything:
    /// a fixed count, not a duration, so a faster worker (a release build, more cores) cannot fail it.
    /// At the default 50 requests/s it takes 0.2 s of overlap.
    public static let minimumDuringUpdate = 10

    /// Starts `serve` (the worker's binary) on a free loopback port over `layout`, and waits until it
    /// listens or exits. The wait has no deadline of its own: the caller bounds it (the day-two
    /// scenario's `serve_start` phase kills `serve`, recorded in `worker.children`, past its limit).
    ///
    /// - Throws: `SmokeError` when it does not start or exits before listening.
    public static func start(worker: WorkerProcess, layout: WorkerLayout, modelDirectory: String, ratePerSecond: Int = 50) async throws -> ServingLoad {
        let logPath = layout.folder + "/serve.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw SmokeError("cannot write \(logPath)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: worker.binary)
        process.arguments = ["serve", "--prod-db", layout.prodDB, "--index", layout.indexPath, "--index-meta", layout.indexMetaPath,
                             "--similarity-db", layout.similarityDB, "--model-dir", modelDirectory, "--port", "0"]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        worker.children.started(process.processIdentifier, "serve")
        while true {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on http://") }),
               let address = line.split(separator: " ").first(where: { $0.hasPrefix("http://") }) {
                return ServingLoad(process: process, children: worker.children, logPath: logPath, base: String(address),
                                   ratePerSecond: ratePerSecond)  // http://127.0.0.1:port
            }
            guard process.isRunning else {
                worker.children.ended(process.processIdentifier)
                throw SmokeError("serve exited before listening: \(text.suffix(400))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private init(process: Process, children: ChildProcesses, logPath: String, base: String, ratePerSecond: Int) {
        self.process = process
        self.children = children
        self.logPath = logPath
        self.base = base
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.httpMaximumConnectionsPerHost = 16
        session = URLSession(configuration: configuration)
        self.ratePerSecond = ratePerSecond
    }

    /// Ends `serve` with SIGTERM (as `systemctl stop` does) and waits for it at most
    /// `SmokeTimeLimits.serveGrace`, then SIGKILLs it: a serve that ignores SIGTERM is reported, never
    /// waited out. Waits without blocking a thread of the test runner's small pool (the in-process
    /// simulator shares it). The client's idle connections are closed first, so serve has nothing in
    /// flight to finish.
    @discardableResult
    public func stop() async -> Stop {
        session.invalidateAndCancel()
        let clock = ContinuousClock.now
        let deadline = clock + SmokeTimeLimits.serveGrace
        if process.isRunning { process.terminate() }
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        let killed = process.isRunning
        if killed { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        children.ended(process.processIdentifier)
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        let misuse = log.split(separator: "\n").first { $0.contains("MISUSE") }.map(String.init)
        return Stop(exitStatus: process.terminationStatus, milliseconds: clock.elapsedMilliseconds, killed: killed, misuse: misuse)
    }

    /// The URLs the load cycles through: each video's `/similar` and details, each text's search, `/healthz`.
    public func urls(videos: [(host: String, id: String)], texts: [String]) -> [String] {
        var urls: [String] = []
        for video in videos {
            urls.append("\(base)/api/v1/videos/\(video.host)/\(video.id)/similar?count=10")
            urls.append("\(base)/api/v1/videos/\(video.host)/\(video.id)")
        }
        for text in texts {
            urls.append("\(base)/api/v1/search/similar?count=10&text=" + (text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        }
        return urls + ["\(base)/healthz"]
    }

    /// One request, timed.
    public func get(_ url: String, duringUpdate: Bool = false) async -> Sample {
        let clock = ContinuousClock.now
        var sample = Sample(url: url, status: 0, body: Data(), generation: nil, milliseconds: 0, duringUpdate: duringUpdate)
        if let (body, response) = try? await session.data(from: URL(string: url)!), let http = response as? HTTPURLResponse {
            sample.status = http.statusCode
            sample.body = body
            sample.generation = (http.value(forHTTPHeaderField: "X-Serve-Generation")).flatMap { Int($0) }
        }
        let elapsed = clock.duration(to: .now)
        sample.milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return sample
    }

    /// The current answer of every URL, asked one after another.
    public func answers(_ urls: [String]) async -> [String: Sample] {
        var answers: [String: Sample] = [:]
        for url in urls { answers[url] = await get(url) }
        return answers
    }

    /// Sends requests round-robin over `urls` at the fixed rate until `work` ends (or `seconds`
    /// pass, without work), keeping every sample; returns `work`'s value.
    public func load<T: Sendable>(_ urls: [String], duringUpdate: Bool, seconds: Double = 0,
                                  while work: @escaping @Sendable () async throws -> T) async throws -> T {
        // A flag, not cancellation: requests in flight when the phase ends finish and are counted.
        let stopping = Atomic<Bool>(false)
        let sender = Task {
            var next = 0
            await withTaskGroup(of: Void.self) { group in
                while !stopping.load(ordering: .relaxed) {
                    let url = urls[next % urls.count]
                    next += 1
                    group.addTask {
                        let sample = await self.get(url, duringUpdate: duringUpdate)
                        self.samples.withLock { $0.append(sample) }
                    }
                    try? await Task.sleep(for: .milliseconds(1000 / ratePerSecond))
                }
            }
        }
        let value: T
        do {
            value = try await work()
            if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
        } catch {
            stopping.store(true, ordering: .relaxed)
            _ = await sender.value
            throw error
        }
        stopping.store(true, ordering: .relaxed)
        _ = await sender.value
        return value
    }

    /// Waits (at most `limit`) until `/healthz` shows a consistent generation other than `old`.
    public func awaitNewGeneration(after old: Int?, within limit: Duration) async -> Int? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let health = await get("\(base)/healthz")
            if let generation = health.generation, generation != old,
               let object = try? JSONSerialization.jsonObject(with: health.body) as? [String: Any], object["consistent"] as? Bool == true {
                return generation
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// The figures and checks: every sample against the answers before and after, and how serve stopped.
    public func result(old: [String: Sample], new: [String: Sample], switched: Bool, stop: Stop) -> Result {
        let all = samples.withLock { $0 }
        var failed = 0, inconsistent = 0
        var firstFailure = "", firstInconsistent = ""
        func describe(_ sample: Sample) -> String {
            " (first: \(sample.url.replacingOccurrences(of: base, with: "")) answered \(sample.status == 0 ? "nothing" : String(sample.status)) in \(Int(sample.milliseconds)) ms: \(String(decoding: sample.body.prefix(200), as: UTF8.self)))"
        }
        for sample in all {
            guard sample.status != 0, sample.status < 500, !(sample.url.hasSuffix("/healthz") && sample.status != 200) else {
                if failed == 0 { firstFailure = describe(sample) }
                failed += 1
                continue
            }
            if sample.url.hasSuffix("/healthz") { continue }
            let matches = [old[sample.url], new[sample.url]].contains { $0.map { $0.status == sample.status && $0.body == sample.body } ?? false }
            if !matches {
                if inconsistent == 0 { firstInconsistent = describe(sample) }
                inconsistent += 1
            }
        }
        func percentiles(_ values: [Double]) -> (p50: Double, p99: Double) {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return (0, 0) }
            func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
            return (at(0.5), at(0.99))
        }
        let during = all.filter(\.duringUpdate)
        let generations = Set(all.compactMap(\.generation)).sorted()
        let changedAnswers = old.filter { url, answer in !url.hasSuffix("/healthz") && new[url].map { $0.body != answer.body } != false }.count
        let checks = [
            SmokeCheck("serving_zero_failed", passed: failed == 0 && !all.isEmpty, value: .int(Int64(failed)),
                       detail: "\(all.count) requests at \(ratePerSecond)/s, \(during.count) while the worker ran: no transport error, no 5xx" + firstFailure),
            SmokeCheck("serving_consistent_generations", passed: inconsistent == 0, value: .int(Int64(inconsistent)),
                       detail: "every answer byte for byte the old generation's or the new one's" + firstInconsistent),
            SmokeCheck("serving_picked_up_new_generation", passed: switched && changedAnswers > 0, value: .int(Int64(changedAnswers)),
                       detail: "serve switched without a restart; value: URLs whose answer changed"),
            SmokeCheck("serving_requests_during_update", passed: during.count >= Self.minimumDuringUpdate, value: .int(Int64(during.count)),
                       detail: "at least \(Self.minimumDuringUpdate) requests sent while the worker ran and serve switched generations"),
            SmokeCheck("serving_clean_stop", passed: stop.clean, value: .int(Int64(stop.exitStatus)),
                       detail: "SIGTERM: exit 0 within the \(SmokeTimeLimits.serveGrace.components.seconds) s grace period without a concurrency misuse; took \(stop.milliseconds) ms"
                           + (stop.killed ? ", killed after the grace period" : "") + (stop.misuse.map { "; serve.log: \($0)" } ?? "")),
        ]
        return Result(requests: all.count, duringUpdate: during.count, failed: failed, inconsistent: inconsistent,
                      generationsSeen: generations, ratePerSecond: ratePerSecond,
                      latencyDuring: percentiles(during.map(\.milliseconds)),
                      latencyOutside: percentiles(all.filter { !$0.duringUpdate }.map(\.milliseconds)), stop: stop, checks: checks)
    }
}
