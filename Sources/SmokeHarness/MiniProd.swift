import Foundation
import GRDB
import PeerTubeUpdater

/// The smoke fixture's mini-prod: a copy of the source DB, pruned to the test hosts, the newest
/// channels and videos, and the embeddings of the kept videos. Table layouts and indexes are the
/// source's own (DDL copied), so an operator's real prod is tested as it is.
public enum MiniProd {
    public struct Summary: Sendable, Equatable {
        public var hosts: [String]
        public var channels: Int
        public var videos: Int
        public var embeddings: Int
    }

    /// - Throws: `StorageError` for an unusable source, `SmokeError` when it has no instances,
    ///   `DatabaseError` when the copy fails (after a few tries when the source is busy).
    public static func build(from source: String, to path: String, wantedHosts: [String], maxInstances: Int,
                             maxChannels: Int, maxVideos: Int) throws -> Summary {
        _ = try DatabaseFile.open(source, role: "source DB", access: .readOnly)
        // Several fixtures (suites, processes) copy from one shared source at once; a busy source is
        // waited out and the copy made again from scratch rather than failing the suite.
        var attempt = 1
        while true {
            do {
                return try copy(from: source, to: path, wantedHosts: wantedHosts, maxInstances: maxInstances,
                                maxChannels: maxChannels, maxVideos: maxVideos)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 3 {
                Thread.sleep(forTimeInterval: Double(attempt))
                attempt += 1
            }
        }
    }

    private static func copy(from source: String, to path: String, wantedHosts: [String], maxInstances: Int,
                             maxChannels: Int, maxVideos: Int) throws -> Summary {
        try DatabaseFile.remove(path)
        let mini = try DatabaseFile.open(path, role: "mini-prod DB", access: .create)
        return try mini.withAttached(source, as: "source") { db in
            try DatabaseFile.requireTables(Schema.contentTables, in: db, schema: "source", role: "source DB", path: source)
            let schema = try Row.fetchAll(db, sql: """
                SELECT type, name, sql FROM source.sqlite_master
                WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND type IN ('table', 'index')
                ORDER BY type = 'index', rowid
                """)
            let sourceHosts = try String.fetchAll(db, sql: "SELECT host FROM source.instances ORDER BY host")
            let present = Set(sourceHosts)
            var hosts = wantedHosts.filter(present.contains)
            // None of the test hosts in the source: its first hosts by name stand in (as the spec's test).
            if hosts.isEmpty { hosts = sourceHosts }
            hosts = Array(hosts.prefix(maxInstances))
            guard !hosts.isEmpty else { throw SmokeError("source DB \(source) has no instances to test with") }

            var summary = Summary(hosts: hosts, channels: 0, videos: 0, embeddings: 0)
            try db.inTransaction {
                for row in schema where row["type"] as String == "table" { try db.run(row["sql"]) }
                try db.execute(sql: "CREATE TEMP TABLE smoke_hosts(host TEXT PRIMARY KEY)")
                for host in hosts { try db.execute(sql: "INSERT INTO smoke_hosts VALUES (?)", arguments: [host]) }
                try db.execute(sql: "INSERT INTO main.instances SELECT * FROM source.instances WHERE host IN (SELECT host FROM smoke_hosts) ORDER BY rowid")
                try db.execute(sql: """
                    INSERT INTO main.channels SELECT * FROM source.channels WHERE rowid IN (
                        SELECT rowid FROM source.channels WHERE instance_domain IN (SELECT host FROM smoke_hosts)
                        ORDER BY rowid DESC LIMIT ?) ORDER BY rowid
                    """, arguments: [maxChannels])
                summary.channels = db.changesCount
                try db.execute(sql: """
                    INSERT INTO main.videos SELECT * FROM source.videos WHERE rowid IN (
                        SELECT v.rowid FROM source.videos v
                        WHERE EXISTS (SELECT 1 FROM main.channels c
                                      WHERE c.channel_id = v.channel_id AND c.instance_domain = v.instance_domain)
                        ORDER BY v.rowid DESC LIMIT ?) ORDER BY rowid
                    """, arguments: [maxVideos])
                summary.videos = db.changesCount
                try db.execute(sql: """
                    INSERT INTO main.video_embeddings SELECT e.* FROM source.video_embeddings e
                    WHERE EXISTS (SELECT 1 FROM main.videos v WHERE v.video_id = e.video_id AND v.instance_domain = e.instance_domain)
                    ORDER BY e.rowid
                    """)
                summary.embeddings = db.changesCount
                for row in schema where row["type"] as String == "index" { try db.run(row["sql"]) }
                try db.execute(sql: "DROP TABLE temp.smoke_hosts")
                return .commit
            }
            return summary
        }
    }
}
