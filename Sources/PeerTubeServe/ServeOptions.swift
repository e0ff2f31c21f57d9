import Foundation
import HTTPServing
import PeerTubeUpdater

/// What `serve` reads and how it answers. The CLI defaults the paths as the worker's
/// (`UpdaterDefaults`), so a service started beside the timer reads what the worker publishes.
public struct ServeOptions: Sendable {
    public var prodPath: String
    public var indexPath: String
    public var metaPath: String
    public var cachePath: String
    /// The embedding model for `/search/similar`; nil: that endpoint answers 503 and the rest serve.
    public var modelDirectory: String?
    /// Cores a text search's forward pass uses at most (nil: all).
    public var modelThreads: Int?
    /// Loopback by default; a public address is the operator's choice (behind a reverse proxy).
    public var address = "127.0.0.1"
    /// 0: any free port (tests); the chosen one is logged and returned by `ReadServer.start`.
    public var port: UInt16 = 8092
    /// How often new artifacts are looked for.
    public var pollInterval: Duration = .milliseconds(250)
    /// Videos per answer when `count` is not given, and the most a request may ask for.
    public var defaultCount = 10
    public var maxCount = 50
    /// Lists searched in the index for `/search/similar` (the similarity stage's default).
    public var nprobe = 16
    /// The longest search text accepted, in characters (the model reads 256 tokens at most).
    public var maxTextLength = 1_000
    /// What one client may cost: request sizes, timeouts, the connection cap.
    public var limits = HTTPLimits()

    public init(prodPath: String, indexPath: String, metaPath: String, cachePath: String, modelDirectory: String?) {
        self.prodPath = prodPath
        self.indexPath = indexPath
        self.metaPath = metaPath
        self.cachePath = cachePath
        self.modelDirectory = modelDirectory
    }
}
