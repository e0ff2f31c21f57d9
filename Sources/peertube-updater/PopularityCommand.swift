import ArgumentParser
import PeerTubeUpdater

struct PopularityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popularity",
        abstract: "Recompute video popularity in prod.",
        discussion: """
            score = (views + w * likes) / (1 + age_days / 30), with age from published_at to now; a missing \
            published_at counts as 3650 days and negative counts as 0. Adds videos.popularity and its index \
            when missing.
            """
    )

    enum Mode: String, EnumerableFlag {
        case incremental, reset
        static func help(for value: Mode) -> ArgumentHelp? {
            switch value {
            case .incremental: return "Score only rows whose popularity is NULL or 0 (the default)."
            case .reset: return "Score every row."
            }
        }
    }

    @Option(name: [.customLong("db"), .customLong("prod-db")], help: ArgumentHelp("The prod DB. Default: $PEERTUBE_UPDATER_PROD_DB or data/whitelist.db.", valueName: "path"))
    var db: String?
    @Option(name: .customLong("lock-file"), help: ArgumentHelp("The single-run lock. Default: <db>.updater.lock.", valueName: "path"))
    var lockFile: String?
    @Flag var mode: Mode = .incremental
    @Option(name: .customLong("like-weight"), help: "Weight w of likes against views.")
    var likeWeight = PopularityRecompute.defaultLikeWeight
    @OptionGroup var log: LogOptions

    func run() throws {
        let logger = try log.makeLogger("popularity")
        let defaults = UpdaterDefaults()
        let path = db ?? defaults.prodDB
        let selection: PopularityRecompute.Selection = mode == .reset ? .reset : .incremental
        try RunLock.withLock(at: lockFile ?? defaults.lockFile(forProd: path), guarding: path, logger: logger) {
            _ = try PopularityRecompute.run(dbPath: path, selection: selection, likeWeight: likeWeight, logger: logger)
        }
    }
}
