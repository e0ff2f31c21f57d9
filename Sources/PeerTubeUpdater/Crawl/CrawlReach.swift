import GRDB

/// How much of the federation a crawl reached: of the instances it crawled (the first
/// `maxInstances` of staging, as every crawl stage takes them), those that answered (`health_status`
/// ok). A run that reached too few (the network was down, DNS failed) learnt nothing worth merging.
public struct CrawlReach: Sendable, Equatable, CustomStringConvertible {
    public var hosts: Int
    public var reached: Int

    public var share: Double { hosts == 0 ? 1 : Double(reached) / Double(hosts) }

    public var description: String {
        "reached \(reached) of \(hosts) instance(s) (\(Int((share * 100).rounded()))%)"
    }

    /// Measures staging after the crawl.
    ///
    /// - Throws: `StorageError` when staging cannot be opened or has no instances table.
    public static func measure(stagingPath: String, maxInstances: Int) throws -> CrawlReach {
        let store = CrawlStore(db: try StagingDatabase.openOrCreate(at: stagingPath))
        let hosts = try store.instanceHosts(limit: maxInstances)
        let reached = try store.db.read { db in
            try hosts.count { host in
                try String.fetchOne(db, sql: "SELECT health_status FROM instances WHERE host = ?", arguments: [host]) == "ok"
            }
        }
        return CrawlReach(hosts: hosts.count, reached: reached)
    }
}

/// The outage gate's refusal: the crawl reached fewer instances than the run requires.
public struct OutageGateError: Error, CustomStringConvertible {
    public var reach: CrawlReach
    public var minimumShare: Double

    public var description: String {
        "outage gate: the crawl \(reach), under the required \(Int((minimumShare * 100).rounded()))%; stopped before the merge, prod untouched (is the network down?)"
    }
}
