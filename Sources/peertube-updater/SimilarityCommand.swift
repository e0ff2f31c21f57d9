import ArgumentParser
import PeerTubeUpdater

struct SimilarityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity",
        abstract: "Precompute each video's most similar videos into the similarity cache DB.",
        discussion: """
            Incremental (the default): computes videos with no cached list, refreshes the lists that a new video \
            now belongs in or that point at videos gone from prod, and drops sources gone from prod, so the \
            result matches a full recompute, and commits them into the live cache in one transaction (WAL: \
            readers keep their snapshot until the commit). --reset recomputes everything in a side file, \
            swapped in by one rename (the previous cache stays as <out>.prev), or committed into the live \
            file while a reader such as `serve` holds it. Prod is only read.
            """
    )

    enum Selection: String, EnumerableFlag {
        case incremental, reset
    }

    @Option(name: [.customLong("db"), .customLong("prod-db")], help: ArgumentHelp("The prod DB.", valueName: "path"))
    var db: String?
    @Option(name: .customLong("index"), help: ArgumentHelp("The ANN index (from `ann build`).", valueName: "path"))
    var index: String
    @Option(name: .customLong("out"), help: ArgumentHelp("The similarity cache DB to publish.", valueName: "path"))
    var out: String
    @Flag var selection: Selection = .incremental
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Neighbours kept per video.")
    var topK = SimilarityPrecompute.Options().topK
    @Option(parsing: .unconditional, help: "Inverted lists probed per query.")
    var nprobe = SimilarityPrecompute.Options().nprobe
    @OptionGroup var log: LogOptions

    func run() throws {
        let logger = try log.makeLogger("similarity")
        _ = try SimilarityPrecompute.run(dbPath: db ?? UpdaterDefaults().prodDB, indexPath: index, outPath: out,
                                         options: .init(selection: selection == .reset ? .reset : .incremental,
                                                        topK: topK, nprobe: nprobe),
                                         logger: logger)
    }
}
