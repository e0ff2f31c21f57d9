import Foundation
import PeerTubeSimulator
import PeerTubeUpdater

/// `TestResources/smoke-corpus.json`: the seed, date, hosts and shape of the corpus behind the
/// embedded default source DB and the simulated federation.
public struct SmokeCorpus: Sendable {
    public let corpus: SimCorpus
    /// A hash of the description file: the embedded default is rebuilt when it changes.
    public let key: String
    public let path: String
    /// The description the smoke suite uses, relative to the repository root.
    public static let defaultPath = "TestResources/smoke-corpus.json"

    /// Every video of the corpus, on every host.
    public var videoCount: Int { corpus.instances.reduce(0) { $0 + $1.channels.reduce(0) { $0 + $1.videos.count } } }

    private struct File: Decodable {
        var seed: UInt64
        var today: String
        var hosts: String
        var shape: SimCorpus.Shape?
    }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw SmokeError("corpus description not found: \(path)") }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw SmokeError("corpus description \(path) is malformed: \(error)")
        }
        guard let today = try? Date(file.today, strategy: .iso8601) else {
            throw SmokeError("corpus description \(path): 'today' is not an ISO-8601 date: \(file.today)")
        }
        let hostsPath = (path as NSString).deletingLastPathComponent + "/" + file.hosts
        let hosts = try Self.hosts(fromInstancesFile: hostsPath)
        corpus = SimCorpus(hosts: hosts, seed: file.seed, shape: file.shape ?? SimCorpus.Shape(),
                           todayAt: Int64(today.timeIntervalSince1970 * 1000))
        let hostsData = FileManager.default.contents(atPath: hostsPath) ?? Data()
        // The builder's version joins the key: a change in how the DB is built also rebuilds it.
        key = FNV1a64.hex(data + hostsData + Data("builder-v1".utf8))
        self.path = path
    }

    /// Hosts of an instances file (JoinPeerTube shape, `{instances:[…]}` or a list), normalised,
    /// deduplicated, in file order.
    public static func hosts(fromInstancesFile path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SmokeError("instances file not found: \(path)") }
        let whitelist: Whitelist
        do { whitelist = try Whitelist(parsing: JSONValue.parse(data)) } catch {
            throw SmokeError("instances file \(path) is not a usable host list: \(error)")
        }
        guard !whitelist.hosts.isEmpty else { throw SmokeError("instances file \(path) lists no usable host") }
        return whitelist.hosts
    }
}
