import ArgumentParser
import PeerTubeUpdater
import SmokeHarness

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

            --cpu (the default here): exact vectors searched list by list: every video assigned to the --nprobe \
            nearest coarse lists of the index's quantizer, each list's videos scored against those probing it \
            with one matrix product (IVF-Flat, exact scores; recall@20 1.000 on the benchmark's data); in an \
            incremental run each new video is offered to the cached list of every video it met in its own \
            search. --gpu: every \
            list an exact top-k over all prod vectors on the CUDA device (fp32 GEMMs, so recall 1.0), and in an \
            incremental run each new video is offered to every cached list whose k-th neighbour it beats.
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
    @Option(parsing: .unconditional, help: "Coarse lists each video is searched in (--cpu).")
    var nprobe = SimilarityPrecompute.Options().nprobe
    @OptionGroup var device: DeviceOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard device.gpuPrecision == .fp32 else {
            throw ValidationError("--gpu-precision tf32 would round the scores and change the lists: the similarity search is exact, in fp32")
        }
    }

    func run() throws {
        let logger = try log.makeLogger("similarity")
        let options = SimilarityPrecompute.Options(selection: selection == .reset ? .reset : .incremental, topK: topK, nprobe: nprobe,
                                                   device: device.resolved(default: .cpu))
        _ = try SimilarityPrecompute.run(dbPath: db ?? UpdaterDefaults().prodDB, indexPath: index, outPath: out, options: options, logger: logger)
    }
}
