import Foundation
import GRDB

/// Which known prod videos a refresh re-reads: those whose last reading is older than their age tier's
/// interval (new videos change fast, old ones hardly), most overdue first, at most `perHostBudget`
/// per host and run, so a big instance costs a bounded number of requests a day.
public struct RefreshPlan: Sendable {
    /// Videos published less than `maxAgeDays` ago are re-read every `intervalDays`.
    public struct Tier: Sendable, Equatable {
        public var maxAgeDays: Double
        public var intervalDays: Double
        public init(maxAgeDays: Double, intervalDays: Double) {
            self.maxAgeDays = maxAgeDays
            self.intervalDays = intervalDays
        }
    }

    public struct Options: Sendable, Equatable {
        /// By increasing age; videos older than the last tier use its interval.
        public var tiers: [Tier] = [.init(maxAgeDays: 7, intervalDays: 1), .init(maxAgeDays: 30, intervalDays: 3),
                                    .init(maxAgeDays: 365, intervalDays: 14), .init(maxAgeDays: .infinity, intervalDays: 60)]
        /// Details requests per host and run, at most.
        public var perHostBudget = 2_000
        /// An instance unreachable for longer than this many days (at least 1) loses its videos from
        /// prod (`InstanceHealth`).
        public var instanceGraceDays = 7.0
        public init(perHostBudget: Int = 2_000, instanceGraceDays: Double = 7) {
            self.perHostBudget = perHostBudget
            self.instanceGraceDays = instanceGraceDays
        }
    }

    /// One video to re-read, with the channel its row names (the mapping needs it).
    public struct Target: Sendable, Equatable {
        public var videoID: String
        public var host: String
        public var channel: ChannelRecord
    }

    public var targets: [Target]
    /// Videos due on each host, before the budget cut.
    public var dueByHost: [String: Int]

    /// The plan for `hosts` at `now` (Unix ms), from prod (schema `main` of `db`). Videos marked
    /// invalid stay out. `first` (video id, host) are due whatever their tier says, before any other:
    /// the videos a complete channel listing left out.
    ///
    /// - Throws: `DatabaseError` when prod's `videos` cannot be read.
    public static func make(_ db: Database, hosts: [String], now: Int64, options: Options = .init(),
                            first: [(videoID: String, host: String)] = []) throws -> RefreshPlan {
        guard !hosts.isEmpty, options.perHostBudget > 0, !options.tiers.isEmpty else { return RefreshPlan(targets: [], dueByHost: [:]) }
        let day = 86_400_000.0
        // Interval (ms) of each video's tier, from its age (published_at, else when it was first seen).
        var interval = "CASE"
        var arguments: [DatabaseValueConvertible] = []
        for tier in options.tiers where tier.maxAgeDays.isFinite {
            interval += " WHEN ? - coalesce(published_at, last_checked_at) < ? THEN ?"
            arguments += [now, tier.maxAgeDays * day, tier.intervalDays * day]
        }
        interval += " ELSE ? END"
        arguments.append(options.tiers.last!.intervalDays * day)
        let hostList = Array(repeating: "?", count: hosts.count).joined(separator: ", ")
        let firstJSON = String(decoding: try JSONSerialization.data(withJSONObject: first.map { [$0.videoID, $0.host] }), as: UTF8.self)
        let rows = try Row.fetchAll(db, sql: """
            WITH due AS (
                SELECT video_id, instance_domain, channel_id, channel_url,
                       CASE WHEN (video_id, instance_domain) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?)) THEN 1e300
                            ELSE (? - last_checked_at) / (\(interval)) END AS overdue
                FROM videos
                WHERE instance_domain IN (\(hostList)) AND invalid_reason IS NULL AND channel_id IS NOT NULL
            ), ranked AS (
                SELECT *, row_number() OVER (PARTITION BY instance_domain ORDER BY overdue DESC, video_id) AS place,
                       count(*) OVER (PARTITION BY instance_domain) AS due_on_host
                FROM due WHERE overdue >= 1
            )
            SELECT * FROM ranked WHERE place <= ? ORDER BY place, instance_domain
            """, arguments: StatementArguments([firstJSON, now] + arguments + hosts + [options.perHostBudget]))
        var dueByHost: [String: Int] = [:]
        let targets = rows.map { row -> Target in
            let host: String = row["instance_domain"]
            dueByHost[host] = row["due_on_host"]
            return Target(videoID: row["video_id"], host: host,
                          // No display name: the mapping then takes the current one from the details.
                          channel: ChannelRecord(channelID: row["channel_id"], channelURL: row["channel_url"], instanceDomain: host))
        }
        return RefreshPlan(targets: targets, dueByHost: dueByHost)
    }
}
