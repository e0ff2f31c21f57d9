import ArgumentParser
import PeerTubeUpdater

struct FixtureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fixture",
        abstract: "Developer tools: generate deterministic prod/staging DBs for benchmarks and trials.",
        subcommands: [Generate.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a synthetic prod DB and a staging DB whose videos are new to it.",
            discussion: """
                Prod gets videos 0..<videos in channels 0..<channels; staging gets prod's channels plus \
                new-channels new ones, and new-videos new videos spread over all of them. Same seed, same rows.
                """
        )
        @Option(name: .customLong("prod-db"), help: ArgumentHelp("Where to write the prod DB.", valueName: "path"))
        var prodDB: String
        @Option(name: .customLong("staging-db"), help: ArgumentHelp("Where to write the staging DB (none if omitted).", valueName: "path"))
        var stagingDB: String?
        @Option var videos = 10_000
        @Option(name: .customLong("new-videos")) var newVideos = 1_000
        @Option var channels = 500
        @Option(name: .customLong("new-channels")) var newChannels = 50
        @Option var instances = 12
        @Option var seed: UInt64 = 1234
        @Flag(name: .customLong("no-embeddings"), help: "Leave video_embeddings empty.")
        var noEmbeddings = false
        @OptionGroup var log: LogOptions

        func validate() throws {
            guard videos >= 0, newVideos >= 0, channels > 0, newChannels >= 0, instances > 0 else {
                throw ValidationError("counts must be >= 0, and channels and instances > 0")
            }
        }

        func run() throws {
            let logger = try log.makeLogger("fixture")
            let catalog = SyntheticCatalog(seed: seed, instanceCount: instances)
            try catalog.write(.init(videos: 0..<videos, channels: 0..<channels, withEmbeddings: !noEmbeddings, isProd: true),
                              to: prodDB, logger: logger)
            if let stagingDB {
                try catalog.write(.init(videos: videos..<(videos + newVideos), channels: 0..<(channels + newChannels),
                                        withEmbeddings: !noEmbeddings, isProd: false),
                                  to: stagingDB, logger: logger)
            }
        }
    }
}
