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
        let staging = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readOnly)
        // The hosts as `CrawlStore.instanceHosts` takes them: first by name, `maxInstances` of them.
        let row = try staging.read { db in
            try Row.fetchOne(db, sql: """
                SELECT count(*), coalesce(sum(health_status = 'ok'), 0)
                FROM (SELECT health_status FROM instances ORDER BY host LIMIT ?)
                """, arguments: [maxInstances > 0 ? maxInstances : -1])
        }
        return CrawlReach(hosts: row?[0] ?? 0, reached: row?[1] ?? 0)
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
