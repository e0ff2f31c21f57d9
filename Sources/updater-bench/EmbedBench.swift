import ArgumentParser
import Foundation
import PeerTubeUpdater

struct EmbedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Encode a JSON list of texts with all-MiniLM-L6-v2 on the CPU: texts/s and tokens/s.",
        discussion: """
            Texts go through the embedder in the embedding stage's pages (32 texts per thread, at least 64, \
            unless --batch-size), tokenizing included. With several --threads values (1,2,4,8,16) each is \
            measured in turn and its speed-up over the first is printed: the scaling check of issue 17.
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
            let embedder = try SentenceEmbedder(modelDirectory: directory, device: .cpu, threads: threadCount)
            let tokenCount = tokens ?? list.reduce(0) { $0 + embedder.tokenizer.encode($1).count }
            tokens = tokenCount
            let page = batchSize ?? embedder.preferredBatchSize
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
