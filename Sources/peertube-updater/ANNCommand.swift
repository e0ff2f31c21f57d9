import ArgumentParser
import PeerTubeUpdater
import SmokeHarness

struct ANNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ann",
        abstract: "The FAISS ANN index over prod's embeddings.",
        subcommands: [Build.self]
    )

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the IVF-PQ index (inner product, normalised vectors, ids = video_embeddings.rowid).",
            discussion: """
                Trains on a sample spread evenly over the table, adds every embedding in batches, then publishes \
                the index and its meta JSON together: both are links through one generation folder, switched by \
                one rename (the previous pair stays as .prev). Embeddings of another dimension are skipped and \
                counted. Prod is only read.
                """
        )

        @Option(name: [.customLong("db"), .customLong("db-path"), .customLong("prod-db")], help: ArgumentHelp("The prod DB.", valueName: "path"))
        var db: String?
        @Option(name: .customLong("index-path"), help: ArgumentHelp("Where to publish the index.", valueName: "path"))
        var indexPath: String
        @Option(name: .customLong("meta-path"), help: ArgumentHelp("Where to publish the meta JSON. Default: $PEERTUBE_UPDATER_INDEX_META_PATH or <index-path>.json.", valueName: "path"))
        var metaPath: String?
        @Option(parsing: .unconditional, help: "Inverted lists. FAISS trains a list well from 39 vectors: an nlist above (training vectors ÷ 39) is refused with the value to use.")
        var nlist = ANNBuild.Options().nlist
        @Option(parsing: .unconditional, help: "PQ sub-quantizers (must divide the dimension).")
        var m = ANNBuild.Options().m
        @Option(parsing: .unconditional, help: "Bits per PQ code.")
        var nbits = ANNBuild.Options().nbits
        @Option(name: .customLong("train-sample"), parsing: .unconditional, help: "At most this many vectors train the index.")
        var trainSample = ANNBuild.Options().trainSample
        @OptionGroup var device: DeviceOptions
        @OptionGroup var log: LogOptions

        func validate() throws {
            for (flag, value) in [("--nlist", nlist), ("--m", m), ("--train-sample", trainSample)] where value < 1 {
                throw ValidationError("\(flag) \(value): must be at least 1")
            }
            guard (1...16).contains(nbits) else { throw ValidationError("--nbits \(nbits): must be in 1...16") }
        }

        func run() throws {
            let logger = try log.makeLogger("ann")
            var options = ANNBuild.Options(nlist: nlist, m: m, nbits: nbits, trainSample: trainSample, device: device.resolved(default: .cpu))
            options.precision = device.gpuPrecision
            _ = try ANNBuild.run(dbPath: db ?? UpdaterDefaults().prodDB, indexPath: indexPath,
                                 metaPath: metaPath ?? UpdaterDefaults().indexMetaPath(forIndex: indexPath), options: options, logger: logger)
        }
    }
}
