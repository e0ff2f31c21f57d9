import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A request as a responder sees it: method, target path (percent-encoded, as the request line has
/// it) and the query's values (decoded; the first of a repeated name wins).
public struct HTTPRequestHead: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var headers: [String: String]

    /// Splits a request target (`/a/b?x=1&y=%20`).
    init(method: String, target: String, headers: [String: String]) {
        self.method = method
        self.headers = headers
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = parts.first.map(String.init) ?? "/"
        var query: [String: String] = [:]
        for pair in (parts.count > 1 ? parts[1] : "").split(separator: "&") {
            let field = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decoded(field[0])
            if query[name] == nil { query[name] = field.count > 1 ? decoded(field[1]) : "" }
        }
        self.query = query
    }
}

/// A responder's answer. A HEAD request gets its headers (`Content-Length` of this body) and no body.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The package's HTTP server: Hummingbird's server on SwiftNIO, with `HTTPLimits` enforced on every
/// connection (bounded request line and headers, idle and half-sent connections closed, a connection
/// cap answered with 503, malformed requests answered with problems) and graceful shutdown through
/// swift-service-lifecycle.
///
/// Lifecycle: `run` binds and serves until `stop()`, a shutdown signal it was told to handle, or
/// cancellation; on shutdown it stops accepting, lets requests in flight finish (at most
/// `shutdownGrace`), then closes every connection.
public final class HTTPService: Sendable {
    public typealias Responder = @Sendable (HTTPRequestHead) async -> HTTPAnswer

    private let host: String
    private let port: Int
    private let limits: HTTPLimits
    private let logger: Logger
    private let respond: Responder
    private let allow: String
    private let group = Mutex<ServiceGroup?>(nil)
    private let stopped = Atomic<Bool>(false)

    /// `allow`: the methods the responder serves (the `Allow` of a 405 for an unknown method).
    /// `logger` gets the server's own warnings (its start and stop notices are left out).
    public init(host: String, port: Int, limits: HTTPLimits = HTTPLimits(), allow: String = "GET, HEAD", logger: Logger,
                respond: @escaping Responder) {
        self.host = host
        self.port = port
        self.limits = limits
        self.allow = allow
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        self.logger = quiet
        self.respond = respond
    }

    /// Serves until stopped. `onListening` gets `host:port` once connections are accepted; with
    /// `stopOnSignals`, SIGTERM and SIGINT start a graceful shutdown (then `run` returns normally).
    ///
    /// - Throws: when the address cannot be bound.
    public func run(stopOnSignals: Bool = false, onListening: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let cap = ConnectionCap(limit: limits.effectiveMaxConnections)
        let channel = HardenedHTTP1Channel(responder: Self.responder(respond), limits: limits, cap: cap, allow: allow)
        let host = self.host
        let server = Server(
            childChannelSetup: channel,
            configuration: ServerConfiguration(address: .hostname(host, port: port), serverName: nil, backlog: 1_024, reuseAddress: true),
            onServerRunning: { channel in onListening("\(host):\(channel.localAddress?.port ?? 0)") },
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        var configuration = ServiceGroupConfiguration(services: [.init(service: server)],
                                                      gracefulShutdownSignals: stopOnSignals ? [.sigterm, .sigint] : [],
                                                      cancellationSignals: [], logger: logger)
        configuration.maximumGracefulShutdownDuration = limits.shutdownGrace
        configuration.maximumCancellationDuration = .seconds(2)
        let services = ServiceGroup(configuration: configuration)
        group.withLock { $0 = services }
        if stopped.load(ordering: .relaxed) { await services.triggerGracefulShutdown() }
        try await services.run()
    }

    /// Starts the graceful shutdown (also before `run` has bound: it then returns at once).
    public func stop() async {
        stopped.store(true, ordering: .relaxed)
        if let services = group.withLock({ $0 }) { await services.triggerGracefulShutdown() }
    }

    /// The responder over Hummingbird's request and writer: the head handed over, the answer written
    /// with its length; HEAD gets GET's headers and no body.
    private static func responder(_ respond: @escaping Responder) -> HTTPChannelHandler.Responder {
        { request, writer, _ in
            var headers: [String: String] = [:]
            for field in request.head.headerFields { headers[field.name.canonicalName] = field.value }
            let head = HTTPRequestHead(method: request.method.rawValue, target: request.head.path ?? "/", headers: headers)
            let answer = await respond(head)
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let name = HTTPField.Name(name) { fields[name] = value }
            }
            fields[.contentLength] = String(answer.body.count)
            let response = HTTPResponse(status: .init(code: answer.status), headerFields: fields)
            if request.method == .head {
                try await writer.writeResponse(response)
            } else {
                try await writer.write(response: response, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
            }
        }
    }
}

/// HTTP/1.1 child channels with the guards of `HTTPLimits`: the raw request-line watch before the
/// decoder, the decoder's size limits, the guard after the codec, and Hummingbird's idle timeout,
/// which closes a connection with no request in progress (idle, or its head still arriving).
struct HardenedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let limits: HTTPLimits
    let cap: ConnectionCap
    let allow: String

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let watch = RequestLineWatch(limit: limits.maxRequestLineBytes)
            var decoder = NIOHTTPDecoderLimitConfiguration()
            // The request target counts as one field: it may be as long as the request line allows.
            decoder.maxHeaderFieldSize = max(limits.maxHeaderFieldBytes, limits.maxRequestLineBytes)
            decoder.maxHeaderListSize = limits.maxHeaderBytes + limits.maxRequestLineBytes
            decoder.maxHeaderFieldCount = limits.maxHeaderCount
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(watch)
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                                                     withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoder)
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(RequestGuard(watch: watch, cap: cap, allow: allow))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: limits.idleTimeout, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}
