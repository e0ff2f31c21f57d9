import ArgumentParser
import Foundation
import PeerTubeUpdater
import SmokeHarness

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed videos with all-MiniLM-L6-v2 (384-d, mean pooling, L2-normalised).",
        discussion: """
            With --db: embeds every video of the DB that has no embedding yet (all of them with --force), \
            committing each batch; an interrupted run resumes where it stopped. Text: title, description, \
            tags, category, channel and comments count, one per line.

            With --texts IN.json --out OUT.json: encodes a JSON list of strings into a JSON list of vectors \
            (for checking the model).

            The model comes from `make model` (models/all-MiniLM-L6-v2); nothing is downloaded at run time.
            """
    )

    @Option(name: .customLong("db"), help: ArgumentHelp("The DB whose videos to embed.", valueName: "path"))
    var db: String?
    @Option(name: .customLong("texts"), help: ArgumentHelp("A JSON list of strings to encode.", valueName: "path"))
    var texts: String?
    @Option(name: .customLong("out"), help: ArgumentHelp("Where --texts writes its vectors (JSON).", valueName: "path"))
    var out: String?
    @OptionGroup var device: DeviceOptions
    @Flag(help: "Re-embed every video, not only those without an embedding.")
    var force = false
    @Option(name: .customLong("batch-size"), parsing: .unconditional,
            help: "Videos per batch and per commit. Default: 32 per thread of --threads, at least 64.")
    var batchSize: Int?
    @OptionGroup var model: ModelOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (db == nil) != (texts == nil) else { throw ValidationError("give either --db or --texts") }
        if texts != nil, out == nil { throw ValidationError("--texts needs --out") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size \(batchSize): must be at least 1") }
    }

    func run() throws {
        let logger = try log.makeLogger("embed")
        let embedder = try SentenceEmbedder(modelDirectory: model.directory,
                                            device: device.resolved(default: .cpu), threads: model.threads, precision: device.gpuPrecision)
        if let db {
            _ = try EmbeddingStage.run(dbPath: db, embedder: embedder,
                                       options: .init(batchSize: batchSize, force: force), logger: logger)
            return
        }
        guard let texts, let out else { return }
        let input: [String]
        do {
            input = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: texts)))
        } catch {
            throw ValidationError("\(texts) is not a readable JSON list of strings")
        }
        let vectors = try embedder.embed(input)
        try JSONEncoder().encode(vectors).write(to: URL(fileURLWithPath: out), options: .atomic)
        logger.info("embed: wrote \(vectors.count) vectors of \(embedder.dimension) floats to \(out)")
    }
}
