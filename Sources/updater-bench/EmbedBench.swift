import ArgumentParser
import Foundation
import PeerTubeUpdater

struct EmbedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Encode a JSON list of texts with all-MiniLM-L6-v2 on the CPU: texts/s and tokens/s."
    )

    @Option(help: "JSON list of strings (make bench writes ../shared/tools/gen_texts.py -n 2000 --seed 1234).")
    var texts = "bench-data/texts-2000.json"
    @Option(name: .customLong("model-dir")) var modelDir: String?
    @Option(name: .customLong("batch-size")) var batchSize = 64
    @Option var runs = 3

    func run() throws {
        let list = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: texts)))
        let embedder = try SentenceEmbedder(modelDirectory: ModelFiles.resolveDirectory(modelDir), device: .cpu)
        let tokens = list.map(embedder.tokenizer.encode)
        let tokenCount = tokens.reduce(0) { $0 + $1.count }
        var times: [Double] = []
        for run in 1...runs {
            times.append(Measure.seconds {
                for start in stride(from: 0, to: list.count, by: batchSize) {
                    let batch = list[start..<min(start + batchSize, list.count)]
                    _ = embedder.embed(Array(batch))
                }
            })
            print(String(format: "run %d: %.2f s, %.1f texts/s", run, times.last!, Double(list.count) / times.last!))
        }
        let median = Measure.median(times)
        print(String(format: "embed %d texts (%.1f tokens/text, batch %d): median %.1f texts/s, %.0f tokens/s (runs: %@ s)",
                     list.count, Double(tokenCount) / Double(list.count), batchSize, Double(list.count) / median,
                     Double(tokenCount) / median, times.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
    }
}
