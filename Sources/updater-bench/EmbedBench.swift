import ArgumentParser
import Foundation
import PeerTubeUpdater
import SmokeHarness

struct EmbedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Encode a JSON list of texts with all-MiniLM-L6-v2 (CPU, or --gpu): texts/s and tokens/s.",
        discussion: """
            Texts go through the embedder in the embedding stage's pages (on the CPU 32 texts per thread, at \
            least 64; on a GPU the device's page), unless --batch-size, tokenizing included: texts in, \
            normalised vectors out. With several --threads values (1,2,4,8,16) each is measured in turn and \
            its speed-up over the first is printed. On --gpu, one warm-up call comes before the timed runs.
            """
    )

    @Option(help: "JSON list of strings (make bench writes ../shared/tools/gen_texts.py -n 2000 --seed 1234).")
    var texts = "bench-data/texts-2000.json"
    @Option(name: .customLong("model-dir")) var modelDir: String?
    @Option(name: .customLong("batch-size"), help: "Texts per call. Default: the stage's page size.")
    var batchSize: Int?
    @Option(help: "Use only the first n texts.") var count: Int?
    @Option(help: "Thread counts to measure, comma-separated. Default: one per core.")
    var threads: String?
    @Option var runs = 3
    @OptionGroup var device: DeviceOptions

    func run() throws {
        var list = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: texts)))
        if let count { list = Array(list.prefix(count)) }
        let directory = ModelFiles.resolveDirectory(modelDir)
        let counts = try threads.map { text in
            try text.split(separator: ",").map { part -> Int in
                guard let value = Int(part.trimmingCharacters(in: .whitespaces)), value > 0 else {
                    throw ValidationError("--threads \(text): give positive counts, comma-separated")
                }
                return value
            }
        } ?? [ProcessInfo.processInfo.activeProcessorCount]
        var first: Double?, tokens: Int?
        for threadCount in counts {
            let embedder = try SentenceEmbedder(modelDirectory: directory, device: device.resolved(default: .cpu), threads: threadCount,
                                                precision: device.gpuPrecision)
            // Tokens per text from a sample of at most 5,000 texts (counting all of 100,000 would take longer than embedding them).
            let sample = list.prefix(5_000)
            let tokenCount = tokens ?? Int(Double(sample.reduce(0) { $0 + embedder.tokenizer.encode($1).count }) / Double(max(sample.count, 1)) * Double(list.count))
            tokens = tokenCount
            let page = batchSize ?? embedder.preferredBatchSize
            if embedder.device == .gpu {
                _ = try embedder.embed(Array(list.prefix(256)))
                print("device: \(embedder.deviceDescription)")
            }
            var times: [Double] = []
            for run in 1...runs {
                times.append(try Measure.seconds {
                    for start in stride(from: 0, to: list.count, by: page) {
                        _ = try embedder.embed(Array(list[start..<min(start + page, list.count)]))
                    }
                })
                print(String(format: "threads %d run %d: %.2f s, %.1f texts/s", threadCount, run, times.last!,
                             Double(list.count) / times.last!))
            }
            let rate = Double(list.count) / Measure.median(times)
            first = first ?? rate
            print(String(format: "embed %d texts (%.1f tokens/text, batch %d, threads %d): median %.1f texts/s, %.0f tokens/s, %.2f× threads %d (runs: %@ s)",
                         list.count, Double(tokenCount) / Double(list.count), page, threadCount, rate,
                         rate * Double(tokenCount) / Double(list.count), rate / first!, counts[0],
                         times.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
        }
    }
}
