import Foundation

/// Default paths: the one place they come from. An environment variable overrides each default, and
/// a command-line flag overrides both.
///
/// | what | default | environment |
/// |---|---|---|
/// | data folder | `data` | `PEERTUBE_UPDATER_DATA_DIR` |
/// | prod DB | `<data>/whitelist.db` | `PEERTUBE_UPDATER_PROD_DB` |
/// | staging DB | `<data>/staging-worker.db` | `PEERTUBE_UPDATER_STAGING_DB` |
/// | lock file | `<prod DB>.updater.lock` | `PEERTUBE_UPDATER_LOCK_FILE` |
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

    /// The lock guarding `prodDB` (the default prod unless another is named).
    public func lockFile(forProd prod: String? = nil) -> String {
        value("PEERTUBE_UPDATER_LOCK_FILE") ?? "\(prod ?? prodDB).updater.lock"
    }
}
