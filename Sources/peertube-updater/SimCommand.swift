import ArgumentParser
@preconcurrency import Dispatch
@preconcurrency import Foundation
import PeerTubeSimulator
import PeerTubeUpdater

struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "The simulated PeerTube federation, for local development.",
        subcommands: [Serve.self]
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve the seeded corpus on 127.0.0.1 until interrupted.",
            discussion: """
                One port answers for every instance host (dispatch on the Host header) and for the JoinPeerTube \
                directory (/api/v1/instances/hosts, on the address itself). Real host names stay in URLs: route \
                them here like curl's --connect-to, e.g.
                  curl --connect-to framatube.org:80:127.0.0.1:PORT http://framatube.org/api/v1/video-channels
                  peertube-updater crawl channels --db staging.db --route '*=127.0.0.1:PORT' --http-only
                Faults per host come from a JSON file: {"hosts": {"tilvids.com": {"latencyMs": 20, "rateLimited": -1}}}.
                """)
        @Option(parsing: .unconditional, help: "Port on 127.0.0.1 (0: any free port).")
        var port: UInt16 = 8080
        @Option(help: ArgumentHelp("Fault configuration (JSON).", valueName: "file"))
        var faults: String?
        @Option(help: ArgumentHelp("Instances of the corpus, JoinPeerTube-shaped JSON. Default: the five test instances.", valueName: "file"))
        var instances: String?
        @Option(help: "Corpus seed.")
        var seed: UInt64 = SimCorpus.defaultSeed
        @Flag(help: "Serve yesterday's view (what the embedded-default prod holds) instead of today's.")
        var yesterday = false
        @Option(name: .customLong("log-file"), help: ArgumentHelp("Append one line per request here.", valueName: "path"))
        var logFile: String?

        func run() async throws {
            var hosts = SimCorpus.defaultHosts
            if let instances {
                guard let data = FileManager.default.contents(atPath: instances) else {
                    throw ValidationError("instances file not found: \(instances)")
                }
                hosts = try Whitelist(parsing: JSONValue.parse(data)).hosts
            }
            let corpus = SimCorpus(hosts: hosts, seed: seed)
            let api = SimAPI(corpus: corpus, viewTime: yesterday ? corpus.snapshotAt : corpus.todayAt)
            let federation = try SimulatedFederation(api: api, faults: try faults.map(SimFaults.load) ?? SimFaults(),
                                                     port: port, logPath: logFile)
            let address = try await federation.start()
            print("simulated federation on \(address) (\(yesterday ? "yesterday" : "today"), seed \(seed), \(corpus.allChannels.count) channels, \(corpus.allVideos.count) videos)")
            for instance in corpus.instances {
                print("  \(instance.host) -> \(address)  (PeerTube \(instance.serverVersion), \(instance.channels.count) channels)")
            }
            print("  directory: http://\(address)/api/v1/instances/hosts")
            print("crawl it with: --route '*=\(address)' --http-only    (Ctrl-C stops)")
            fflush(nil)
            await waitForTermination()
            await federation.stop()
        }
    }
}
