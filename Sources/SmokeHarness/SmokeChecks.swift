import Foundation
import GRDB
import PeerTubeUpdater

/// One PASS condition of the smoke suite, with what was measured.
public struct SmokeCheck: Sendable {
    public var name: String
    public var passed: Bool
    public var value: JSONValue
    public var detail: String

    public init(_ name: String, passed: Bool, value: JSONValue = .null, detail: String = "") {
        self.name = name
        self.passed = passed
        self.value = value
        self.detail = detail
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["pass": .bool(passed), "value": value]
        if !detail.isEmpty { object["detail"] = .string(detail) }
        return .object(object)
    }
}

// MARK: - SmokeChecks

/// The checks of a worker run, each a function of the files it left: the smoke suite runs them after
/// the main run, and the tests of the tests run them on deliberately broken runs.
public enum SmokeChecks {
    public static func exitStatus(_ code: Int32, errorLine: String?) -> SmokeCheck {
        SmokeCheck("worker_exit_code", passed: code == 0, value: .int(Int64(code)),
                   detail: code == 0 ? "" : "worker failed: \(errorLine ?? "no stderr")")
    }

    /// Every required stage's `done:` marker and `worker completed`.
    public static func logMarkers(_ log: WorkerLog.Parsed) -> SmokeCheck {
        let missing = log.missingStages.map(\.rawValue) + (log.totalMs == nil ? ["worker completed"] : [])
        return SmokeCheck("log_markers", passed: missing.isEmpty,
                          value: .object(["missing": .array(missing.map(JSONValue.string))]),
                          detail: missing.isEmpty ? "" : "missing in worker.log: \(missing.joined(separator: ", "))")
    }

    /// `device=cuda` and `mode=gpu` in GPU mode, `device=cpu` and `mode=cpu` in CPU mode.
    public static func deviceMarkers(_ log: WorkerLog.Parsed, device: ComputeDevice) -> SmokeCheck {
        let wanted = (device.embeddingsMarker, device.annMarker)
        let ok = ComputeDevice(embeddingsMarker: log.device, annMarker: log.annMode) == device
        return SmokeCheck("device_markers", passed: ok,
                          value: .object(["device": log.device.map(JSONValue.string) ?? .null, "mode": log.annMode.map(JSONValue.string) ?? .null]),
                          detail: ok ? "" : "expected device=\(wanted.0) and mode=\(wanted.1)")
    }

    public static func artifactsExist(_ layout: WorkerLayout) -> SmokeCheck {
        let missing = [layout.stagingDB, layout.indexPath, layout.indexMetaPath, layout.similarityDB]
            .filter { !FileManager.default.fileExists(atPath: $0) }
        return SmokeCheck("artifacts_exist", passed: missing.isEmpty, value: .array(missing.map(JSONValue.string)),
                          detail: missing.isEmpty ? "" : "missing: \(missing.joined(separator: ", "))")
    }

    /// ANN meta `total` = prod's `video_embeddings` count = the index's `ntotal`.
    public static func annTotal(metaPath: String, indexPath: String, prodPath: String) throws -> SmokeCheck {
        let meta = try ANNMeta.read(metaPath)
        let index = try FaissIndex.read(indexPath)
        let embeddings = try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly).read { try $0.rowCount(of: "video_embeddings") }
        let ok = meta.total == embeddings && index.count == meta.total
        return SmokeCheck("ann_meta_total", passed: ok,
                          value: .object(["meta_total": .int(Int64(meta.total)), "index_ntotal": .int(Int64(index.count)),
                                          "db_embeddings": .int(Int64(embeddings))]),
                          detail: ok ? "" : "meta total \(meta.total), index ntotal \(index.count), prod embeddings \(embeddings)")
    }

    /// Every id in the index is a `video_embeddings.rowid` of prod (the spec's test never checked).
    public static func annIDsResolve(indexPath: String, prodPath: String) throws -> SmokeCheck {
        let ids = Set(try FaissIndex.read(indexPath).storedIDs)
        let rowids = Set(try DatabaseFile.open(prodPath, role: "prod DB", access: .readOnly).read {
            try Int64.fetchAll($0, sql: "SELECT rowid FROM video_embeddings")
        })
        let dangling = ids.subtracting(rowids).count
        return SmokeCheck("ann_ids_resolve", passed: dangling == 0 && ids.count == rowids.count,
                          value: .object(["index_ids": .int(Int64(ids.count)), "dangling": .int(Int64(dangling))]),
                          detail: dangling == 0 ? "" : "\(dangling) index ids name no video_embeddings row")
    }

    /// The cache has a list for every prod embedding, and every cached neighbour exists in prod.
    public static func similarityCoverage(similarityPath: String, prodPath: String) throws -> SmokeCheck {
        let cache = try DatabaseFile.open(similarityPath, role: "similarity cache", access: .readOnly)
        let (uncovered, dangling, sources) = try cache.withAttached(prodPath, as: "prod") { db in
            (try Int.fetchOne(db, sql: """
                SELECT count(*) FROM prod.video_embeddings e WHERE NOT EXISTS (SELECT 1 FROM similarity_sources s
                    WHERE s.video_id = e.video_id AND s.instance_domain = e.instance_domain)
                """) ?? -1,
             try Int.fetchOne(db, sql: """
                SELECT count(*) FROM similarity_items i WHERE NOT EXISTS (SELECT 1 FROM prod.video_embeddings e
                    WHERE e.video_id = i.similar_video_id AND e.instance_domain = i.similar_instance_domain)
                """) ?? -1,
             try db.rowCount(of: "similarity_sources"))
        }
        return SmokeCheck("similarity_coverage", passed: uncovered == 0 && dangling == 0,
                          value: .object(["sources": .int(Int64(sources)), "embeddings_without_list": .int(Int64(uncovered)),
                                          "dangling_neighbours": .int(Int64(dangling))]),
                          detail: uncovered == 0 && dangling == 0 ? "" : "\(uncovered) embeddings without a list, \(dangling) neighbours missing from prod")
    }

    /// Per merge rule: no duplicate keys, the new-row delta staging promised, INSERT_ONLY left old rows
    /// alone (ignoring `videos.popularity`), INSERT_OR_REPLACE rows equal staging's; with
    /// `requireOverlap`, the replace rule had at least one existing key to replace (the injection).
    public static func mergeRules(prodPath: String, beforePath: String, stagingPath: String, rules: MergeRuleSet,
                                  requireOverlap: Bool) throws -> [SmokeCheck] {
        mergeRules(try MergeInvariants.check(prodPath: prodPath, beforePath: beforePath, stagingPath: stagingPath, rules: rules),
                   requireOverlap: requireOverlap)
    }

    /// The same from invariants already measured.
    public static func mergeRules(_ invariants: [MergeInvariants], requireOverlap: Bool) -> [SmokeCheck] {
        invariants.map { result in
            var problems: [String] = []
            if result.duplicateKeyGroups > 0 { problems.append("\(result.duplicateKeyGroups) duplicate key groups") }
            if result.expectedNewRows != result.actualNewRows {
                problems.append("delta \(result.actualNewRows) but staging had \(result.expectedNewRows) new keys")
            }
            if result.changedExistingRows > 0 { problems.append("\(result.changedExistingRows) existing rows changed") }
            if result.mismatchedReplacedRows > 0 { problems.append("\(result.mismatchedReplacedRows) rows differ from staging") }
            if requireOverlap, result.strategy == .insertOrReplace, result.overlappingKeys < 1 {
                problems.append("no overlapping key: the replace path was not exercised")
            }
            return SmokeCheck("merge_\(result.table)", passed: problems.isEmpty, value: .object([
                "strategy": .string(result.strategy.rawValue),
                "duplicate_key_groups": .int(Int64(result.duplicateKeyGroups)),
                "expected_new_rows": .int(Int64(result.expectedNewRows)),
                "actual_new_rows": .int(Int64(result.actualNewRows)),
                "changed_existing_rows": .int(Int64(result.changedExistingRows)),
                "mismatched_rows": .int(Int64(result.mismatchedReplacedRows)),
                "overlapping_keys": .int(Int64(result.overlappingKeys)),
            ]), detail: problems.joined(separator: "; "))
        }
    }

    /// The crawl found new channels and videos: a run that merges nothing proves nothing.
    public static func crawlFoundNewRows(_ invariants: [MergeInvariants]) -> SmokeCheck {
        func expected(_ table: String) -> Int64 { Int64(invariants.first { $0.table == table }?.expectedNewRows ?? 0) }
        let channels = expected("channels"), videos = expected("videos"), embeddings = expected("video_embeddings")
        let ok = channels > 0 && videos > 0 && embeddings > 0
        return SmokeCheck("crawl_found_new_rows", passed: ok,
                          value: .object(["channels": .int(channels), "videos": .int(videos), "video_embeddings": .int(embeddings)]),
                          detail: ok ? "" : "the crawl brought nothing new to merge")
    }

    public static func lockReleased(_ path: String) -> SmokeCheck {
        let state = RunLock.state(at: path)
        return SmokeCheck("lock_released", passed: state == .free, value: .string("\(state)"),
                          detail: state == .free ? "" : "lock file \(path) is \(state)")
    }

    /// `PRAGMA integrity_check` = ok on each DB that exists.
    public static func integrity(_ paths: [String: String]) throws -> SmokeCheck {
        var results: [String: JSONValue] = [:]
        var bad: [String] = []
        for (name, path) in paths.sorted(by: { $0.key < $1.key }) where FileManager.default.fileExists(atPath: path) {
            let messages = try integrityMessages(path)
            results[name] = .string(messages.joined(separator: "; "))
            if messages != ["ok"] { bad.append(name) }
        }
        return SmokeCheck("integrity_ok", passed: bad.isEmpty, value: .object(results),
                          detail: bad.isEmpty ? "" : "integrity_check failed: \(bad.joined(separator: ", "))")
    }

    static func integrityMessages(_ path: String) throws -> [String] {
        do {
            return try DatabaseFile.open(path, role: "DB", access: .readOnly).read { try $0.integrityCheck() }
        } catch {
            return ["\(error)"]
        }
    }

    /// No temporary file of an unfinished publication is left beside the artifacts, nor in their
    /// generation folders (`ArtifactGenerations`).
    public static func noTemporaryFiles(in folder: String) -> SmokeCheck {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var leftovers = names.filter { $0.contains(".tmp-") }
        for generations in names where generations.hasPrefix(".") && generations.hasSuffix(".generations") {
            let inside = (try? FileManager.default.contentsOfDirectory(atPath: "\(folder)/\(generations)")) ?? []
            leftovers += inside.filter { $0.contains("tmp-") }.map { "\(generations)/\($0)" }
        }
        leftovers.sort()
        return SmokeCheck("no_temporary_files", passed: leftovers.isEmpty, value: .array(leftovers.map(JSONValue.string)),
                          detail: leftovers.isEmpty ? "" : "left behind: \(leftovers.joined(separator: ", "))")
    }
}

// MARK: - DBMetrics

/// Row counts that describe a DB in the report's `metrics`.
public enum DBMetrics {
    public static func of(_ path: String) throws -> JSONValue {
        guard FileManager.default.fileExists(atPath: path) else { return .null }
        return try DatabaseFile.open(path, role: "DB", access: .readOnly).read { db in
            var object: [String: JSONValue] = [:]
            for (table, count) in try db.rowCounts(of: Schema.contentTables) { object[table] = .int(Int64(count)) }
            if try db.hasTable("videos"), try db.columnNames(of: "videos").contains("popularity") {
                object["videos_with_popularity"] = .int(Int64(try Int.fetchOne(db, sql: "SELECT count(*) FROM videos WHERE popularity > 0") ?? 0))
            }
            return .object(object)
        }
    }

    /// Content hashes of the four merged tables: equal before and after means "unchanged".
    public static func fingerprints(_ path: String) throws -> [TableFingerprint] {
        try DatabaseFile.open(path, role: "DB", access: .readOnly).read { db in
            try Schema.contentTables.filter { try db.hasTable($0) }.map { try TableFingerprint.of($0, in: db) }
        }
    }
}
