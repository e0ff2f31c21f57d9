import Foundation

/// Publishes files that must change together (an index and the meta that describes it) in one step.
/// Their real files live in one generation folder inside `.<first name>.generations/` beside the
/// first path; each published path is a symbolic link through the `current` link there, so one
/// rename of `current` switches every file at once. A crash leaves the old generation or the new
/// one, never a new index beside an old meta. The generation before stays reachable as `<path>.prev`
/// (through the `prev` link); older ones are removed.
///
/// Plain files found at the paths (from a version before generations, or put there by hand) are
/// adopted first as a generation of their own, so readers never see a mix.
public struct ArtifactGenerations: Sendable {
    public let paths: [String]
    /// `.<first name>.generations`, beside the first path.
    public let folder: String

    public init(paths: [String]) {
        precondition(!paths.isEmpty, "at least one artifact path")
        self.paths = paths
        let first = paths[0] as NSString
        let parent = first.deletingLastPathComponent
        folder = (parent.isEmpty ? "" : parent + "/") + "." + first.lastPathComponent + ".generations"
    }

    private var names: [String] { paths.map { ($0 as NSString).lastPathComponent } }
    private var pid: Int32 { ProcessInfo.processInfo.processIdentifier }

    /// Writes a new generation (`write` gets one temporary path per artifact, in `paths` order) and
    /// makes it current. If `write` throws, nothing published changes.
    ///
    /// - Throws: what `write` throws, and a `CocoaError`/`POSIXError` when a folder, link or rename fails;
    ///   the published pair is then unchanged.
    public func publish(write: (_ temporaryPaths: [String]) throws -> Void) throws {
        guard Set(names).count == names.count else {
            throw StorageError.refusedPath(path: paths.joined(separator: ", "), reason: "artifacts published together need distinct file names")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for path in paths { ArtifactPublisher.removeAbandonedTemporaries(of: path) }
        removeUnreferenced()
        try adoptPlainFiles()

        let staging = "\(folder)/tmp-\(pid)"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        let temporaries = names.map { "\(staging)/\($0)" }
        do {
            try write(temporaries)
            for (temporary, name) in zip(temporaries, names) {
                try ArtifactPublisher.flush(temporary)
                try FaultPlan.reach(.published(name))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        let generation = "g-\(Int64(Date().timeIntervalSince1970 * 1_000_000))-\(pid)"
        try Self.rename(staging, to: "\(folder)/\(generation)")
        ArtifactPublisher.flush(folder: folder)

        let previous = link("current")
        try linkPaths(through: "current", suffix: "")
        try point("current", at: generation)
        if let previous {
            try point("prev", at: previous)
            try linkPaths(through: "prev", suffix: ".prev")
        }
        removeUnreferenced()
    }

    // MARK: reading

    /// The name of the current generation (`g-…`), nil when the paths were never published as generations.
    public var currentGeneration: String? { link("current") }

    /// The real files of the current generation, in `paths` order, found through one reading of the
    /// `current` link so they belong together even while a writer switches it; the paths themselves
    /// when they were never published as generations. A reader that opens these keeps its files
    /// when a later generation replaces them (until that one's successor removes the folder).
    public func currentFiles() -> (generation: String?, files: [String]) {
        guard let generation = currentGeneration else { return (nil, paths) }
        return (generation, names.map { "\(folder)/\(generation)/\($0)" })
    }

    // MARK: links

    /// The generation a link of the folder names (`current`, `prev`), if any.
    private func link(_ name: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(name)")
    }

    /// Switches `name` to `generation` by one rename of a fresh link over it.
    private func point(_ name: String, at generation: String) throws {
        try Self.replaceWithLink(at: "\(folder)/\(name)", target: generation, pid: pid)
        ArtifactPublisher.flush(folder: folder)
    }

    /// Makes every `path + suffix` a link to its file through the folder's `through` link.
    private func linkPaths(through: String, suffix: String) throws {
        for (path, name) in zip(paths, names) {
            let target = linkTarget(for: path) + "/\(through)/\(name)"
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: path + suffix)) == target { continue }
            try Self.replaceWithLink(at: path + suffix, target: target, pid: pid)
        }
    }

    /// The generations folder as a link in `path`'s folder sees it: by name when beside it (the data
    /// folder can move), else absolute.
    private func linkTarget(for path: String) -> String {
        let folderParent = (folder as NSString).deletingLastPathComponent
        if (path as NSString).deletingLastPathComponent == folderParent { return (folder as NSString).lastPathComponent }
        return URL(fileURLWithPath: folder).standardizedFileURL.path
    }

    /// Plain files at the published paths become a generation of their own (hard links, no copy),
    /// made current before the paths turn into links, so each path shows the same bytes throughout.
    private func adoptPlainFiles() throws {
        let plain = paths.filter { Self.isPlainFile($0) }
        guard !plain.isEmpty else { return }
        let generation = "g-adopted-\(Int64(Date().timeIntervalSince1970 * 1_000_000))-\(pid)"
        let staging = "\(folder)/tmp-\(pid)"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        for (path, name) in zip(paths, names) {
            let real = (path as NSString).resolvingSymlinksInPath
            guard FileManager.default.fileExists(atPath: real) else { continue }
            guard Glibc.link(real, "\(staging)/\(name)") == 0 else {
                throw StorageError.refusedPath(path: path, reason: "cannot adopt it into \(folder) (errno \(errno))")
            }
        }
        try Self.rename(staging, to: "\(folder)/\(generation)")
        try point("current", at: generation)
        try linkPaths(through: "current", suffix: "")
    }

    /// Generations neither `current` nor `prev` names (a writer killed before switching), and
    /// temporaries (`tmp-<pid>`, `<link>.tmp-<pid>`) of writers that are gone. One writer at a time is
    /// assumed: the worker holds the run lock.
    private func removeUnreferenced() {
        let keep = Set([link("current"), link("prev")].compactMap { $0 })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let isStaleGeneration = name.hasPrefix("g-") && !keep.contains(name)
            let isAbandoned = name.range(of: "tmp-", options: .backwards)
                .flatMap { Int32(name[$0.upperBound...]) }.map(ArtifactPublisher.writerIsGone) ?? false
            if isStaleGeneration || isAbandoned { try? FileManager.default.removeItem(atPath: "\(folder)/\(name)") }
        }
    }

    // MARK: file system steps

    private static func isPlainFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    private static func replaceWithLink(at path: String, target: String, pid: Int32) throws {
        let temporary = "\(path).tmp-\(pid)"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else {
            throw StorageError.refusedPath(path: path, reason: "cannot create a link (errno \(errno))")
        }
        try rename(temporary, to: path)
    }

    private static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            let code = errno
            throw StorageError.refusedPath(path: to, reason: "rename failed: \(String(cString: strerror(code)))")
        }
    }

}
