import ArgumentParser
import Foundation
import GRDB
import Logging
import PeerTubeUpdater
import SmokeHarness

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "updater-bench",
        abstract: "Throughput figures of the updater's stages, as medians of several runs.",
        subcommands: [MergeBench.self, EmbedBench.self, SimilarityBench.self, SimilarityScaleBench.self, RefreshBench.self, CrawlBench.self,
                      ServeBench.self, GPUScaleBench.self],
        defaultSubcommand: MergeBench.self
    )

    /// With the OpenBLAS kernels this CPU runs (as the worker binary does).
    static func main() async { await mainWithBLASCore() }
}

/// Where a benchmark keeps its generated data, and how many runs it takes the median of.
struct BenchData: ParsableArguments {
    @Option var runs = 3
    @Option(name: .customLong("data-dir"), help: "Where generated DBs are kept between runs (git-ignored).")
    var dataDir = "bench-data"

    /// The similarity benchmark's prod of `videos` synthetic videos with embeddings, generated once.
    func syntheticProd(videos: Int, logger: Logger) throws -> String {
        let path = "\(dataDir)/sim-prod-\(videos).db"
        if !FileManager.default.fileExists(atPath: path) {
            try SyntheticCatalog(seed: 4321, instanceCount: 50).write(
                .init(videos: 0..<videos, channels: 0..<max(1, videos / 50), withEmbeddings: true, isProd: true), to: path, logger: logger)
        }
        return path
    }

    /// A synthetic clustered prod of `videos + newVideos` (the grown one, generated once) and the base:
    /// its copy without the new videos (rowids past `videos`), so an incremental run adds exactly them.
    func grownAndBase(videos: Int, newVideos: Int, name: String, logger: Logger) throws -> (base: String, grown: String) {
        let grown = "\(dataDir)/\(name)-\(videos)+\(newVideos).db", base = "\(dataDir)/\(name)-\(videos).db"
        if !FileManager.default.fileExists(atPath: grown) {
            let seconds = try Measure.seconds {
                try SyntheticCatalog(seed: 4321, instanceCount: 50, topicCount: max(1, videos / 250)).write(
                    .init(videos: 0..<(videos + newVideos), channels: 0..<max(1, videos / 50), withEmbeddings: true, isProd: true),
                    to: grown, logger: logger)
            }
            print(String(format: "data: %d videos generated in %.1f s", videos + newVideos, seconds))
        }
        if !FileManager.default.fileExists(atPath: base) {
            try FileCopy.copy(grown, to: base)
            try DatabaseFile.open(base, role: "bench prod", access: .readWrite).write { db in
                try db.execute(sql: "DELETE FROM video_embeddings WHERE rowid > ?", arguments: [videos])
                try db.execute(sql: "DELETE FROM videos WHERE rowid > ?", arguments: [videos])
            }
        }
        return (base, grown)
    }

    /// Creates the data folder; returns a logger that shows only warnings (figures go to stdout).
    func prepare() throws -> Logger {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let sink = try LineLogHandler.Sink(stream: FileHandle.standardError)
        return Logger(label: "bench") { _ in LineLogHandler(sink: sink, level: .warning) }
    }
}

/// Timing helpers shared by every benchmark.
enum Measure {

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return (ContinuousClock.now - start).seconds
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Starts the process's peak resident memory over from what it holds now (Linux: VmHWM, reset
    /// by writing 5 to /proc/self/clear_refs), so `peakResidentBytes` measures what follows.
    static func resetPeakResident() {
        guard let file = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
        file.write(Data("5".utf8))
        try? file.close()
    }

    /// The process's peak resident memory since the last `resetPeakResident` (nil where /proc has no VmHWM).
    static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").compactMap({ Int($0) }).first else { return nil }
        return kilobytes * 1024
    }

    static func report(_ label: String, _ values: [Double], unit: String = "s", per count: Int? = nil) {
        let runs = values.map { String(format: "%.2f", $0) }.joined(separator: ", ")
        var line = String(format: "%@: median %.2f %@ (runs: %@)", label, median(values), unit, runs)
        if let count { line += String(format: ", %.0f rows/s", Double(count) / median(values)) }
        print(line)
    }
}

struct MergeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge N new staging videos (with channels and embeddings) into a large prod, then score popularity incrementally."
    )

    @Option var videos = 1_000_000
    @Option(name: .customLong("new-videos")) var newVideos = 100_000
    @OptionGroup var data: BenchData

    func run() throws {
        let logger = try data.prepare()
        let channels = max(1, videos / 50), newChannels = max(1, newVideos / 100)
        let prod = "\(data.dataDir)/prod-\(videos).db"
        let staging = "\(data.dataDir)/staging-\(videos)+\(newVideos).db"
        let catalog = SyntheticCatalog(seed: 1234, instanceCount: 200)
        if !FileManager.default.fileExists(atPath: prod) {
            let seconds = try Measure.seconds {
                try catalog.write(.init(videos: 0..<videos, channels: 0..<channels, withEmbeddings: true, isProd: true),
                                  to: prod + ".partial", logger: logger)
                // A real prod is already scored: only the merged rows wait at popularity 0.
                _ = try PopularityRecompute.run(dbPath: prod + ".partial", selection: .reset, logger: logger)
                try FileManager.default.moveItem(atPath: prod + ".partial", toPath: prod)
            }
            print(String(format: "generated %@ (%d videos with embeddings) in %.1f s", prod, videos, seconds))
        }
        if !FileManager.default.fileExists(atPath: staging) {
            try catalog.write(.init(videos: videos..<(videos + newVideos), channels: 0..<(channels + newChannels),
                                    withEmbeddings: true, isProd: false), to: staging, logger: logger)
        }

        var mergeTimes: [Double] = [], popularityTimes: [Double] = []
        let work = "\(data.dataDir)/prod-work.db"
        for run in 1...data.runs {
            try DatabaseFile.remove(work)
            try FileManager.default.copyItem(atPath: prod, toPath: work)
            var results: [TableMergeResult] = []
            mergeTimes.append(try Measure.seconds {
                results = try StagingMerge.run(prodPath: work, stagingPath: staging, rules: .builtIn, logger: logger)
            })
            var scored = 0
            popularityTimes.append(try Measure.seconds {
                scored = try PopularityRecompute.run(dbPath: work, selection: .incremental, logger: logger).scored
            })
            let inserted = results.map { "\($0.table)+\($0.inserted)" }.joined(separator: " ")
            print(String(format: "run %d: merge %.2f s (%@), popularity %.2f s (%d rows)",
                         run, mergeTimes.last!, inserted, popularityTimes.last!, scored))
        }
        try DatabaseFile.remove(work)
        Measure.report("merge \(newVideos) new videos into \(videos)-video prod", mergeTimes, per: newVideos)
        Measure.report("incremental popularity after it", popularityTimes)
    }
}
