import ArgumentParser
import Foundation
import Logging
import PeerTubeUpdater

struct CrawlBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crawl",
        abstract: "Crawl the simulated federation (a separate `peertube-updater sim serve` process) with added latency per request.",
        discussion: """
            Reports requests/s against the ideal concurrency / latency, and the crawler's CPU seconds per \
            1,000 requests (this process only: HTTP, JSON, SQLite), as medians of several full crawls \
            (instances, channels, videos with details, counts) into a fresh staging DB.
            """
    )

    @Option(name: .customLong("latency-ms"), help: "Latency the simulator adds to every request.")
    var latencyMs = 20
    @Option(help: "Requests in flight.")
    var concurrency = 4
    @OptionGroup var data: BenchData

    func validate() throws {
        guard latencyMs >= 1, concurrency >= 1 else { throw ValidationError("--latency-ms and --concurrency must be at least 1") }
    }

    func run() async throws {
        let logger = try data.prepare()
        let faults = "\(data.dataDir)/crawl-latency.json"
        try Data("{\"all\": {\"latencyMs\": \(latencyMs)}}".utf8).write(to: URL(fileURLWithPath: faults))
        let simulator = try SimulatorProcess(faultsPath: faults)
        defer { simulator.stop() }
        var rates: [Double] = [], cpuPerThousand: [Double] = []
        for run in 1...data.runs {
            let staging = "\(data.dataDir)/crawl-staging.db"
            try DatabaseFile.remove(staging)
            var options = HTTPClientOptions.simulator(address: simulator.address)
            options.concurrency = concurrency
            let client = PoliteHTTPClient(options: options)
            let cpuBefore = Self.cpuSeconds()
            let start = ContinuousClock.now
            let crawl = CrawlOptions()
            var stages: [String] = []
            /// Runs one stage and notes its requests, time and share of the ideal rate.
            func timed(_ name: String, _ body: () async throws -> Void) async rethrows {
                let (before, begun) = (client.requestCounters.requests, ContinuousClock.now)
                try await body()
                let (requests, seconds) = (client.requestCounters.requests - before, (ContinuousClock.now - begun).seconds)
                stages.append(String(format: "%@ %d in %.2f s (%.0f%%)", name, requests, seconds,
                                     100 * Double(requests) / seconds / (Double(concurrency) * 1000 / Double(latencyMs))))
            }
            try await timed("instances") {
                _ = try await InstancesCrawl.run(stagingPath: staging, whitelistURL: "http://\(simulator.address)/api/v1/instances/hosts?count=5000",
                                                 client: client, options: crawl, logger: logger)
            }
            try await timed("channels") { _ = try await ChannelsCrawl.run(stagingPath: staging, client: client, options: crawl, logger: logger) }
            var videos = CrawlSummary()
            try await timed("videos") { videos = try await VideosCrawl.run(stagingPath: staging, client: client, options: crawl, logger: logger) }
            try await timed("counts") {
                _ = try await ChannelsVideosCountCrawl.run(stagingPath: staging, client: client, options: crawl, logger: logger)
            }
            let seconds = (ContinuousClock.now - start).seconds
            let cpu = Self.cpuSeconds() - cpuBefore
            let requests = client.requestCounters.requests
            client.shutdown()
            rates.append(Double(requests) / seconds)
            cpuPerThousand.append(cpu / Double(requests) * 1000)
            print(String(format: "run %d: %d requests (%d videos) in %.2f s: %.1f req/s, CPU %.2f s (%.3f s per 1,000 requests); %@",
                         run, requests, videos.videos, seconds, rates.last!, cpu, cpuPerThousand.last!,
                         stages.joined(separator: ", ")))
        }
        let ideal = Double(concurrency) / (Double(latencyMs) / 1000)
        Measure.report("crawl requests/s at \(latencyMs) ms latency, concurrency \(concurrency) (ideal \(Int(ideal)))", rates, unit: "req/s")
        print(String(format: "  = %.0f%% of ideal", 100 * Measure.median(rates) / ideal))
        Measure.report("crawler CPU per 1,000 requests", cpuPerThousand)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// `peertube-updater sim serve --port 0` beside this binary, and the address it printed.
final class SimulatorProcess {
    let process = Process()
    let address: String

    init(faultsPath: String) throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("peertube-updater")
        process.executableURL = binary
        process.arguments = ["sim", "serve", "--port", "0", "--faults", faultsPath]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let firstLine = out.fileHandleForReading.availableLine()
        guard let range = firstLine.range(of: #"127\.0\.0\.1:\d+"#, options: .regularExpression) else {
            process.terminate()
            throw ValidationError("simulator did not start (\(binary.path)): \(firstLine)")
        }
        address = String(firstLine[range])
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

extension FileHandle {
    /// Reads up to the first newline.
    func availableLine() -> String {
        var bytes = Data()
        while let byte = try? read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") { bytes.append(first) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
