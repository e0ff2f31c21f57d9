import Foundation
import GRDB
import PeerTubeSimulator
import PeerTubeUpdater

/// Day two: what changes upstream after a crawl reaches prod with `run --refresh`, and nothing else
/// moves. On a fresh copy of the mini-prod the worker runs once (day one: index and similarity
/// cache built); then 12 videos of one host and 5 of another are made due, and upstream one video's
/// views and likes change, another's title is edited, three are deleted, a whole channel of the
/// first host is deleted, and the second host is down. On day three the second host is back: it
/// lost nothing, its due videos are read, its health history starts over. The checks go into the
/// report's `day_two` section.
///
/// The day-two run is also the update `serve` is loaded during (`ServingLoad`): its figures and
/// checks go into the report's `serving_during_update` section.
public enum DayTwoScenario {
    public struct Result: Sendable {
        public var exitCode: Int32
        public var durationMs: Int
        public var checks: [SmokeCheck]
        /// `serve` loaded during the day-two run.
        public var serving: ServingLoad.Result
        public var passed: Bool { !checks.isEmpty && checks.allSatisfy(\.passed) }

        public var json: JSONValue {
            .object([
                "rc": .int(Int64(exitCode)), "duration_ms": .int(Int64(durationMs)), "pass": .bool(passed),
                "checks": .object(Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0.json) })),
            ])
        }
    }

    static let newTitle = "An entirely new title about sourdough bread"

    /// - Throws: `SmokeError` when the mini-prod has too few videos for the scenario, and what the worker
    ///   process or SQLite throw; failed expectations are checks, not errors.
    public static func run(on fixture: SmokeFixture) async throws -> Result {
        let layout = try fixture.freshLayout("day-two")
        let first = try await fixture.bounded(.dayTwoRun("day_one")) {
            try await fixture.worker.run(fixture.workerArguments(layout), layout: layout, logger: fixture.logger)
        }
        guard first.exitCode == 0 else { throw SmokeError("day two: the day-one run failed: \(first.errorLine ?? "rc \(first.exitCode)")") }

        // Everything was just read; 12 videos of the first host were read 100 days ago, 5 of the last.
        let prod = try DatabaseFile.open(layout.prodDB, role: "mini-prod DB", access: .readWrite)
        let now = Int64(Date().timeIntervalSince1970 * 1000), longAgo = now - 100 * 86_400_000
        let (due, downHost) = try prod.write { db -> ([Row], String) in
            try db.execute(sql: "UPDATE videos SET last_checked_at = ?", arguments: [now])
            let hosts = try String.fetchAll(db, sql: "SELECT DISTINCT instance_domain FROM video_embeddings ORDER BY 1")
            guard hosts.count >= 2, let upHost = hosts.first, let downHost = hosts.last else {
                throw SmokeError("day two: the mini-prod needs embedded videos on two hosts")
            }
            let due = try Row.fetchAll(db, sql: """
                SELECT v.video_id, v.views, v.popularity, e.rowid AS ann_id FROM videos v
                JOIN video_embeddings e USING (video_id, instance_domain)
                WHERE v.instance_domain = ? ORDER BY v.video_id LIMIT 12
                """, arguments: [upHost])
            for row in due {
                try db.execute(sql: "UPDATE videos SET last_checked_at = ? WHERE instance_domain = ? AND video_id = ?",
                               arguments: [longAgo, upHost, row["video_id"]])
            }
            try db.execute(sql: """
                UPDATE videos SET last_checked_at = ? WHERE rowid IN (
                    SELECT rowid FROM videos WHERE instance_domain = ? ORDER BY video_id LIMIT 5)
                """, arguments: [longAgo, downHost])
            return (due, downHost)
        }
        guard due.count == 12 else { throw SmokeError("day two: the mini-prod has \(due.count) embedded videos on one host, 12 needed") }
        let (counted, edited): (String, String) = (due[0]["video_id"], due[1]["video_id"])
        let deletedVideos: [String] = due[2...4].map { $0["video_id"] }
        let deletedIDs: [Int64] = due[2...4].map { $0["ann_id"] }
        // A channel of the first host with embedded videos, none of them due: deleted upstream.
        let dueIDs: [String] = due.map { $0["video_id"] }
        let goneChannel = try await prod.read { (db: Database) throws -> (id: String, name: String, host: String)? in
            try Row.fetchOne(db, sql: """
                SELECT c.channel_id, c.channel_name, c.instance_domain FROM channels c
                WHERE c.instance_domain = (SELECT instance_domain FROM videos WHERE video_id = ?)
                  AND EXISTS (SELECT 1 FROM videos v JOIN video_embeddings e USING (video_id, instance_domain)
                              WHERE v.channel_id = c.channel_id AND v.instance_domain = c.instance_domain)
                  AND c.channel_id NOT IN (SELECT channel_id FROM videos WHERE video_id IN (\(dueIDs.map { _ in "?" }.joined(separator: ", "))))
                ORDER BY c.channel_id LIMIT 1
                """, arguments: StatementArguments([counted] + dueIDs))
                .map { ($0["channel_id"], $0["channel_name"], $0["instance_domain"]) }
        }
        guard let goneChannel else { throw SmokeError("day two: the first host needs a second channel with embedded videos") }
        let goneChannelIDs = try await prod.read { (db: Database) throws -> [Int64] in
            try Int64.fetchAll(db, sql: """
                SELECT e.rowid FROM video_embeddings e JOIN videos v USING (video_id, instance_domain)
                WHERE v.channel_id = ? AND v.instance_domain = ?
                """, arguments: [goneChannel.id, goneChannel.host])
        }
        let embeddingsBefore = try embeddings(layout.prodDB)
        let downBefore = try rows(of: downHost, in: layout.prodDB)

        // Day two upstream.
        var corpus = fixture.federation.api.corpus
        let found = [corpus.editVideo(uuid: counted) { $0.views += 1_000; $0.likes += 50 },
                     corpus.editVideo(uuid: edited) { $0.name = newTitle },
                     deletedVideos.allSatisfy { corpus.deleteVideo(uuid: $0) },
                     corpus.deleteChannel(named: goneChannel.name, on: goneChannel.host)]
        guard found == [true, true, true, true] else { throw SmokeError("day two: the chosen videos are not in the simulated corpus") }
        let federation = try SimulatedFederation(api: SimAPI(corpus: corpus), logPath: try fixture.run.path("day-two-federation-http.log"))
        let address = try await federation.start()
        let rules = try fixture.run.path("refresh_rules.json")
        try MergeRuleSet.refreshJSON.write(to: URL(fileURLWithPath: rules))

        // serve answers over the day-one artifacts, before, during and after the update.
        let serving = try await fixture.bounded(.serveStart) {
            try await ServingLoad.start(worker: fixture.worker, layout: layout, modelDirectory: fixture.modelDirectory)
        }
        let outcome: WorkerProcess.Outcome
        let servingResult: ServingLoad.Result
        do {
            let upHost: String = goneChannel.host
            let downVideos = downBefore.prefix(3).map { (host: downHost, id: $0["video_id"] as String) }
            let urls = serving.urls(videos: due.prefix(8).map { (host: upHost, id: $0["video_id"] as String) } + downVideos
                                        + [(host: goneChannel.host, id: try channelVideo(goneChannel, in: layout.prodDB))],
                                    texts: [newTitle, "live music concert", "cooking at home"])
            let old = await serving.answers(urls)
            let oldGeneration = old[urls.last!]?.generation
            try await serving.load(urls, duringUpdate: false, seconds: 2) {}
            // The update a client sees lasts until serve answers from the new generation: the load goes
            // on through the worker run and serve's switch.
            let newGeneration: Int?
            (outcome, newGeneration) = try await serving.load(urls, duringUpdate: true) { [fixture] in
                let outcome = try await fixture.bounded(.dayTwoRun("refresh_run")) {
                    try await fixture.worker.run(
                        fixture.workerArguments(layout, extra: ["--refresh", "--route", "*=\(address)", "--route", "\(downHost)=127.0.0.1:9",
                                                                "--max-retries", "0"], mergeRules: rules),
                        layout: layout, logger: fixture.logger)
                }
                return (outcome, await serving.awaitNewGeneration(after: oldGeneration, within: fixture.limits.limit(of: .generationWait)))
            }
            let new = await serving.answers(urls)
            try await serving.load(urls, duringUpdate: false, seconds: 2) {}
            let stop = try await fixture.bounded(.serveStop) { await serving.stop() }
            servingResult = serving.result(old: old, new: new, switched: newGeneration != nil, stop: stop)
        } catch {
            await serving.stop()
            await federation.stop()
            throw error
        }
        await federation.stop()

        var checks = [SmokeCheck("day_two_exit_zero", passed: outcome.exitCode == 0, value: .int(Int64(outcome.exitCode)),
                                 detail: outcome.errorLine ?? "")]
        let log = (try? String(contentsOfFile: layout.workerLog, encoding: .utf8)) ?? ""
        let counts = "refresh: 9 re-read, 3 gone (404), 5 failed"
        checks.append(SmokeCheck("day_two_refresh_counts", passed: log.contains("refresh: 17 of 17 due videos") && log.contains(counts),
                                 value: .string(log.split(separator: "\n").last { $0.contains("refresh: ") && $0.contains("re-read") }.map(String.init) ?? ""),
                                 detail: "expected 17 due and '\(counts)'"))

        let after = try DatabaseFile.open(layout.prodDB, role: "mini-prod DB", access: .readOnly)
        let (scored, title, remaining) = try after.read { db -> (Row?, String?, Int) in
            (try Row.fetchOne(db, sql: "SELECT views, likes, published_at, popularity FROM videos WHERE video_id = ?", arguments: [counted]),
             try String.fetchOne(db, sql: "SELECT title FROM videos WHERE video_id = ?", arguments: [edited]),
             try deletedVideos.reduce(0) { total, deleted in
                 total + (try Int.fetchOne(db, sql: "SELECT (SELECT count(*) FROM videos WHERE video_id = ?1) + (SELECT count(*) FROM video_embeddings WHERE video_id = ?1)",
                                           arguments: [deleted]) ?? 1)
             })
        }
        let views: Int? = scored?["views"], oldViews: Int? = due[0]["views"]
        var popularityOK = false
        if let scored, let published = scored["published_at"] as Int64?, let likes = scored["likes"] as Int?, let views {
            let ageDays = Double(now - published) / 86_400_000
            let expected = Double(views + 2 * likes) / (1 + ageDays / 30)
            popularityOK = abs((scored["popularity"] as Double) - expected) < 0.01 * expected
        }
        checks.append(SmokeCheck("day_two_new_counts", passed: views != nil && views == oldViews.map { $0 + 1_000 } && popularityOK,
                                 value: .int(Int64(views ?? -1)), detail: "views +1000 upstream; popularity rescored from the new counts"))
        checks.append(SmokeCheck("day_two_new_title", passed: title == newTitle, value: title.map(JSONValue.string) ?? .null))

        let embeddingsAfter = try embeddings(layout.prodDB)
        let others = embeddingsBefore.filter { $0.key != edited && !deletedVideos.contains($0.key) && !goneChannelIDs.contains($0.value.rowid) }
        let changedOthers = others.filter { embeddingsAfter[$0.key] != $0.value }.count
        let editedChanged = embeddingsAfter[edited] != nil && embeddingsAfter[edited]?.blob != embeddingsBefore[edited]?.blob
            && embeddingsAfter[edited]?.rowid == embeddingsBefore[edited]?.rowid
        checks.append(SmokeCheck("day_two_only_edited_reembedded", passed: editedChanged && changedOthers == 0,
                                 value: .int(Int64(changedOthers)),
                                 detail: "the edited video's embedding changed in place (same rowid); value: other embeddings changed"))
        checks.append(SmokeCheck("day_two_deleted_gone_from_prod", passed: remaining == 0, value: .int(Int64(remaining)),
                                 detail: "3 videos deleted upstream; value: their rows and embeddings left in prod"))
        let indexed = (try? Set(FaissIndex.read(layout.indexPath).storedIDs).intersection(deletedIDs).count) ?? -1
        checks.append(SmokeCheck("day_two_deleted_gone_from_index", passed: indexed == 0, value: .int(Int64(indexed))))
        let lists = try SimilarityQuality.cachedLists(cachePath: layout.similarityDB)
        let naming = lists.filter { deletedVideos.contains($0.key.videoID) || $0.value.contains { deletedVideos.contains($0.videoID) } }.count
        checks.append(SmokeCheck("day_two_deleted_gone_from_lists", passed: naming == 0 && lists.keys.contains { $0.videoID == edited },
                                 value: .int(Int64(naming)), detail: "lists naming a deleted video"))
        let channelLeft = try await after.read { (db: Database) throws -> Int in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM videos WHERE channel_id = ? AND instance_domain = ?",
                             arguments: [goneChannel.id, goneChannel.host]) ?? -1
        }
        let channelIndexed = Set((try? FaissIndex.read(layout.indexPath).storedIDs) ?? []).intersection(goneChannelIDs).count
        let channelKeys = Set(embeddingsBefore.filter { goneChannelIDs.contains($0.value.rowid) }.keys)
        let channelNamed = lists.filter { channelKeys.contains($0.key.videoID) || $0.value.contains { channelKeys.contains($0.videoID) } }.count
        checks.append(SmokeCheck("day_two_deleted_channel_gone", passed: channelLeft == 0 && channelIndexed == 0 && channelNamed == 0 && !goneChannelIDs.isEmpty,
                                 value: .int(Int64(channelLeft + channelIndexed + channelNamed)),
                                 detail: "\(goneChannelIDs.count) videos of a channel deleted upstream (its list answers 404); value: left in prod, index and lists"))
        let downAfter = try rows(of: downHost, in: layout.prodDB)
        checks.append(SmokeCheck("day_two_down_instance_kept", passed: downAfter == downBefore, value: .int(Int64(downAfter.count)),
                                 detail: "\(downHost) was down: its rows unchanged, due again next run"))
        let downHealth = try await after.read { (db: Database) throws -> (since: Int64?, failures: Int)? in
            guard try db.hasTable("instance_health") else { return nil }
            return try Row.fetchOne(db, sql: "SELECT failing_since, consecutive_failures FROM instance_health WHERE host = ?", arguments: [downHost])
                .map { ($0["failing_since"], $0["consecutive_failures"]) }
        }
        checks.append(SmokeCheck("day_two_down_instance_health_recorded",
                                 passed: downHealth?.since != nil && downHealth?.failures == 1,
                                 value: .int(Int64(downHealth?.failures ?? -1)),
                                 detail: "prod's instance_health: \(downHost) failing since this run, 1 failed run (its videos leave prod only after the grace period)"))

        checks.append(try await dayThree(fixture, layout: layout, rules: rules, corpus: corpus, downHost: downHost, rowsBefore: downBefore,
                                         readLongAgo: longAgo))

        let result = Result(exitCode: outcome.exitCode, durationMs: outcome.durationMs, checks: checks, serving: servingResult)
        fixture.logger.info("smoke: day two: rc=\(result.exitCode) \(result.passed ? "PASS" : "FAIL: " + checks.filter { !$0.passed }.map(\.name).joined(separator: ", "))")
        fixture.logger.info("smoke: serving during update: \(servingResult.requests) requests (\(servingResult.duringUpdate) during), \(servingResult.failed) failed, \(servingResult.inconsistent) inconsistent, p50/p99 \(servingResult.latencyDuring.p50)/\(servingResult.latencyDuring.p99) ms during vs \(servingResult.latencyOutside.p50)/\(servingResult.latencyOutside.p99) ms outside, generations \(servingResult.generationsSeen)")
        return result
    }

    /// Day three, a day later: the host that was down answers again. It lost nothing, its due videos
    /// are read now, and its health history starts over.
    private static func dayThree(_ fixture: SmokeFixture, layout: WorkerLayout, rules: String, corpus: SimCorpus, downHost: String,
                                 rowsBefore: [Row], readLongAgo: Int64) async throws -> SmokeCheck {
        // The day passes for the host's history: a first failure is retried a day later.
        try await DatabaseFile.open(layout.prodDB, role: "mini-prod DB", access: .readWrite).write { (db: Database) throws in
            try db.execute(sql: """
                UPDATE instance_health SET checked_at = checked_at - 86400000, failing_since = failing_since - 86400000 WHERE host = ?
                """, arguments: [downHost])
        }
        let federation = try SimulatedFederation(api: SimAPI(corpus: corpus), logPath: try fixture.run.path("day-three-federation-http.log"))
        let address = try await federation.start()
        let outcome: WorkerProcess.Outcome
        do {
            outcome = try await fixture.bounded(.dayTwoRun("day_three")) {
                try await fixture.worker.run(
                    fixture.workerArguments(layout, extra: ["--refresh", "--route", "*=\(address)", "--max-retries", "0"], mergeRules: rules),
                    layout: layout, logger: fixture.logger)
            }
        } catch {
            await federation.stop()
            throw error
        }
        await federation.stop()
        let rowsAfter = try rows(of: downHost, in: layout.prodDB)
        let stillUnread = rowsAfter.filter { ($0["last_checked_at"] as Int64? ?? 0) <= readLongAgo }.count
        let health = try await DatabaseFile.open(layout.prodDB, role: "mini-prod DB", access: .readOnly).read { (db: Database) throws -> Row? in
            try Row.fetchOne(db, sql: "SELECT * FROM instance_health WHERE host = ?", arguments: [downHost])
        }
        let healthy = health.map { ($0["failing_since"] as Int64?) == nil && $0["consecutive_failures"] as Int == 0 && ($0["last_ok_at"] as Int64?) != nil } ?? false
        let keys = { (rows: [Row]) in Set(rows.map { $0["video_id"] as String }) }
        return SmokeCheck("day_three_instance_back",
                          passed: outcome.exitCode == 0 && keys(rowsAfter).isSuperset(of: keys(rowsBefore)) && stillUnread == 0 && healthy,
                          value: .int(Int64(stillUnread)),
                          detail: "\(downHost) answers again a day later: rc \(outcome.exitCode), \(rowsAfter.count) of its \(rowsBefore.count) videos kept, its due videos read (value: still unread), health history reset: \(healthy)")
    }

    /// A video of `channel` with an embedding.
    private static func channelVideo(_ channel: (id: String, name: String, host: String), in path: String) throws -> String {
        try DatabaseFile.open(path, role: "mini-prod DB", access: .readOnly).read { db in
            try String.fetchOne(db, sql: """
                SELECT v.video_id FROM videos v JOIN video_embeddings e USING (video_id, instance_domain)
                WHERE v.channel_id = ? AND v.instance_domain = ? ORDER BY v.video_id LIMIT 1
                """, arguments: [channel.id, channel.host]) ?? ""
        }
    }

    /// Every prod embedding by video id: rowid and blob.
    private static func embeddings(_ path: String) throws -> [String: Embedding] {
        try DatabaseFile.open(path, role: "mini-prod DB", access: .readOnly).read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT video_id, rowid, embedding FROM video_embeddings").map {
                ($0["video_id"], Embedding(rowid: $0["rowid"], blob: $0["embedding"]))
            })
        }
    }

    private struct Embedding: Equatable {
        var rowid: Int64
        var blob: Data
    }

    /// A host's video rows, whole, in key order.
    private static func rows(of host: String, in path: String) throws -> [Row] {
        try DatabaseFile.open(path, role: "mini-prod DB", access: .readOnly).read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM videos WHERE instance_domain = ? ORDER BY video_id", arguments: [host])
        }
    }
}
