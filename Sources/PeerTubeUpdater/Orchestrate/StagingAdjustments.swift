import Foundation
import GRDB

/// The worker's small edits of staging between crawl stages (reference worker steps 4 and 9).
enum StagingAdjustments {
    /// `--skip-local-dead`: removes from staging the instances whose prod `health_status` is set and,
    /// trimmed and lower-cased, is not `ok`. Returns the hosts removed.
    static func removeLocallyDeadHosts(stagingPath: String, prodPath: String) throws -> [String] {
        let staging = try DatabaseFile.open(stagingPath, role: "staging DB", access: .readWrite)
        return try staging.withAttached(prodPath, as: "prod") { db in
            var dead: [String] = []
            try db.inTransaction {
                dead = try String.fetchAll(db, sql: """
                    SELECT s.host FROM main.instances s JOIN prod.instances p ON p.host = s.host
                    WHERE p.health_status IS NOT NULL AND lower(trim(p.health_status)) <> 'ok'
                    ORDER BY s.host
                    """)
                for host in dead { try db.execute(sql: "DELETE FROM main.instances WHERE host = ?", arguments: [host]) }
                return .commit
            }
            return dead
        }
    }
}
