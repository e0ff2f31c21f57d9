import ArgumentParser
import PeerTubeUpdater

struct StagingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staging",
        abstract: "Manage the staging DB the crawl writes into.",
        subcommands: [Init.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recreate the staging DB and seed it from prod.",
            discussion: """
                Deletes the staging file with its -wal/-shm sidecars, creates the crawler schema, and copies \
                prod's instance hosts and channels into it, so that the new-only crawl knows what prod has. \
                Records stage_seeded_at and stage_seeded_from in crawl_state. Prod is only read.
                """
        )

        @OptionGroup var prod: ProdOptions
        @OptionGroup var staging: StagingOptions
        @Flag(name: .customLong("resume-staging"), help: "Keep an existing staging DB (add missing tables only) instead of recreating it.")
        var resume = false
        @OptionGroup var log: LogOptions

        func run() throws {
            let logger = try log.makeLogger("staging")
            let path = staging.stagingPath
            let queue = resume ? try StagingDatabase.openOrCreate(at: path) : try StagingDatabase.recreate(at: path)
            let seeded = try StagingDatabase.seed(queue, fromProdAt: prod.prodPath)
            logger.info("staging \(path): seeded \(seeded.instances) instances and \(seeded.channels) channels from \(prod.prodPath)")
        }
    }
}
