import ArgumentParser
import PeerTubeUpdater
import SmokeHarness

@main
struct PeerTubeUpdaterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peertube-updater",
        abstract: "The daily updater of a PeerTube video-discovery service.",
        discussion: """
            Crawls PeerTube instances into a staging DB, embeds new videos, merges staging into prod in one \
            transaction, recomputes popularity, rebuilds the ANN index and precomputes similar videos.

            Default paths come from environment variables (PEERTUBE_UPDATER_DATA_DIR, \
            PEERTUBE_UPDATER_PROD_DB, PEERTUBE_UPDATER_STAGING_DB, PEERTUBE_UPDATER_LOCK_FILE); flags win.
            """,
        subcommands: [
            RunCommand.self,
            DeviceCommand.self,
            StagingCommand.self,
            CrawlCommand.self,
            MergeCommand.self,
            EmbedCommand.self,
            ANNCommand.self,
            SimilarityCommand.self,
            ServeCommand.self,
            PopularityCommand.self,
            LockCommand.self,
            FixtureCommand.self,
            SimCommand.self,
            SmokeCommand.self,
        ]
    )

    /// Every command's failure is one escaped line on stderr, with its remedy, and a non-zero exit
    /// (errors can quote multi-line SQL, or text from the network).
    static func main() async {
        await mainWithBLASCore(mapError: OneLineError.forCommandLine)
    }
}
