import Foundation

/// Default paths and names: the one place they come from. An environment variable overrides each
/// default, and a command-line flag overrides both.
///
/// | what | default | environment |
/// |---|---|---|
/// | data folder | `data` | `PEERTUBE_UPDATER_DATA_DIR` |
/// | prod DB | `<data>/whitelist.db` | `PEERTUBE_UPDATER_PROD_DB` |
/// | staging DB | `<data>/staging-worker.db` | `PEERTUBE_UPDATER_STAGING_DB` |
/// | lock file | `<canonical prod DB path>.updater.lock` | `PEERTUBE_UPDATER_LOCK_FILE` |
/// | ANN index | `<data>/whitelist-video-embeddings.faiss` | `PEERTUBE_UPDATER_INDEX_PATH` |
/// | ANN meta | `<index>.json` | `PEERTUBE_UPDATER_INDEX_META_PATH` |
/// | similarity cache | `<data>/similarity-cache.db` | `PEERTUBE_UPDATER_SIMILARITY_DB` |
/// | worker log | `<data>/updater-worker.log` | `PEERTUBE_UPDATER_LOG` |
/// | systemd service | `peertube-browser` | `PEERTUBE_UPDATER_SERVICE` |
/// | whitelist | JoinPeerTube's healthy hosts | `PEERTUBE_UPDATER_WHITELIST_URL` |
/// | model folder | `models/all-MiniLM-L6-v2` | `PEERTUBE_UPDATER_MODEL_DIR` (see `ModelFiles`) |
///
/// The lock sits beside prod rather than in `/tmp` (PrivateTmp and reboots) and follows the prod it
/// guards: two updaters on one prod exclude each other, updaters on different prods do not.
public struct UpdaterDefaults: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    private func value(_ key: String) -> String? {
        environment[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    public var dataDirectory: String { value("PEERTUBE_UPDATER_DATA_DIR") ?? "data" }
    public var prodDB: String { value("PEERTUBE_UPDATER_PROD_DB") ?? "\(dataDirectory)/whitelist.db" }
    public var stagingDB: String { value("PEERTUBE_UPDATER_STAGING_DB") ?? "\(dataDirectory)/staging-worker.db" }
    public var indexPath: String { value("PEERTUBE_UPDATER_INDEX_PATH") ?? "\(dataDirectory)/whitelist-video-embeddings.faiss" }
    public var similarityDB: String { value("PEERTUBE_UPDATER_SIMILARITY_DB") ?? "\(dataDirectory)/similarity-cache.db" }
    public var workerLog: String { value("PEERTUBE_UPDATER_LOG") ?? "\(dataDirectory)/updater-worker.log" }
    public var serviceName: String { value("PEERTUBE_UPDATER_SERVICE") ?? "peertube-browser" }
    public var whitelistURL: String {
        value("PEERTUBE_UPDATER_WHITELIST_URL") ?? "https://instances.joinpeertube.org/api/v1/instances/hosts?count=5000&healthy=true"
    }

    /// The meta JSON of `index` (the default index unless another is named).
    public func indexMetaPath(forIndex index: String? = nil) -> String {
        value("PEERTUBE_UPDATER_INDEX_META_PATH") ?? "\(index ?? indexPath).json"
    }

    /// The lock guarding `prodDB` (the default prod unless another is named), beside prod's canonical
    /// path: every alias of one prod file (symlinks to it or to its folder) names the same lock.
    public func lockFile(forProd prod: String? = nil) -> String {
        value("PEERTUBE_UPDATER_LOCK_FILE") ?? "\(Self.canonicalPath(prod ?? prodDB)).updater.lock"
    }

    /// `path` with symlinks, `.` and `..` resolved: the file's own path if it exists, else its
    /// folder's canonical path and its name, else `path` unchanged.
    public static func canonicalPath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        guard let resolved = realpath(folder, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + url.lastPathComponent
    }
}
