import Foundation
import Logging
import PeerTubeUpdater
import Synchronization

/// Keeps `serve` on the newest complete generation without restarting: it looks at the published
/// files every `pollInterval` (a `stat` of each file and its WAL, and the index's generation link),
/// and when one changed opens a candidate generation.
///
/// The candidate is served when prod, cache and index agree (`ServedGeneration.consistent`): while
/// the worker is between its merge and its similarity commit, prod is ahead of the cache, and the
/// previous generation, whose snapshots still hold the old prod, goes on answering. A served
/// generation that is itself not consistent (started mid-update, or a run that failed half way) is
/// replaced by any newer one.
public final class GenerationWatcher: Sendable {
    private struct State {
        var current: ServedGeneration
        var signature: [FileSignature]
        var sequence: Int
        /// The last "waiting" reason logged, so a wait is logged once, not every poll.
        var waiting: String?
    }

    private let options: ServeOptions
    private let logger: Logger
    private let state: Mutex<State>

    /// The generation a new request is answered from.
    public var current: ServedGeneration { state.withLock { $0.current } }

    /// Opens the first generation.
    ///
    /// - Throws: what `ServedGeneration.open` throws: prod must be usable for `serve` to start.
    public init(options: ServeOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        let signature = Self.signature(options)
        let first = try ServedGeneration.open(options, sequence: 1)
        state = Mutex(State(current: first, signature: signature, sequence: 1))
        logger.info("serve: generation 1 \(Self.describe(first))")
    }

    /// Looks once for newly published artifacts and switches to them when they form a consistent
    /// generation. Returns whether it switched.
    @discardableResult
    public func poll() -> Bool {
        let signature = Self.signature(options)
        let (unchanged, sequence) = state.withLock { ($0.signature == signature, $0.sequence + 1) }
        guard !unchanged else { return false }
        let candidate: ServedGeneration
        do {
            candidate = try ServedGeneration.open(options, sequence: sequence)
        } catch {
            // A writer mid-switch (a file being replaced); the files' next change brings another look.
            wait(reason: "cannot open the new files yet: \(error)")
            state.withLock { $0.signature = [] }  // look again next poll
            return false
        }
        let switched = state.withLock { state -> Bool in
            state.signature = signature
            guard candidate.consistent || !state.current.consistent else { return false }
            state.current = candidate
            state.sequence = sequence
            state.waiting = nil
            return true
        }
        if switched {
            logger.info("serve: generation \(sequence) \(Self.describe(candidate))")
        } else {
            wait(reason: "prod's embeddings \(candidate.summary.embeddingsFingerprint) are ahead of the cache (\(candidate.summary.cacheFingerprint ?? "none")) or the index (\(candidate.summary.indexFingerprint ?? "none")); answering from generation \(current.sequence) until the worker publishes both")
        }
        return switched
    }

    /// Polls until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: options.pollInterval)
            poll()
        }
    }

    private func wait(reason: String) {
        let first = state.withLock { state -> Bool in
            defer { state.waiting = reason }
            return state.waiting != reason
        }
        if first { logger.info("serve: \(reason.escapedForLog)") }
    }

    private static func describe(_ generation: ServedGeneration) -> String {
        let summary = generation.summary
        return "(\(generation.consistent ? "consistent" : "NOT consistent: prod, cache and index were built from different embeddings; neighbours missing from prod are left out")): "
            + "videos=\(summary.videos) embeddings=\(summary.embeddings) cache_sources=\(summary.cacheSources.map(String.init) ?? "none") "
            + "index=\(summary.indexGeneration ?? (summary.indexVectors == nil ? "none" : "plain files"))"
    }

    // MARK: - Change detection

    /// Identity, size and modification time of a file (zeros when missing). A commit in WAL mode
    /// appends to the `-wal` file; a checkpoint writes the main file; a publish renames.
    struct FileSignature: Equatable {
        var inode: UInt64 = 0, size: Int64 = 0, seconds: Int = 0, nanoseconds: Int = 0
        var link: String?
    }

    static func signature(_ options: ServeOptions) -> [FileSignature] {
        func signature(_ path: String) -> FileSignature {
            var info = stat()
            // An empty WAL is no change: a reader's first open creates one.
            guard stat(path, &info) == 0, info.st_size > 0 || !path.hasSuffix("-wal") else { return FileSignature() }
            return FileSignature(inode: UInt64(info.st_ino), size: Int64(info.st_size),
                                 seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
        }
        var generation = FileSignature()
        generation.link = ArtifactGenerations(paths: [options.indexPath, options.metaPath]).currentGeneration
        return [signature(options.prodPath), signature(options.prodPath + "-wal"), signature(options.cachePath),
                signature(options.cachePath + "-wal"), signature(options.indexPath), signature(options.metaPath), generation]
    }
}
