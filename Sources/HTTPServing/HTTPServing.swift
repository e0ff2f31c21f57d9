import FlyingFox
import FlyingSocks
import Foundation

/// How the package's HTTP servers (the read API, the simulated federation, the smoke's whitelist
/// server) are made: FlyingFox on an IPv4 address, with `NoDelaySocketPool`.
extension HTTPServer {
    /// A server on `ip4:port` (0: any free port) whose sockets send without Nagle's delay.
    ///
    /// - Throws: a socket error for an address that is not IPv4.
    public static func noDelay(ip4: String, port: UInt16, timeout: TimeInterval) throws -> HTTPServer {
        HTTPServer(config: .init(address: try .inet(ip4: ip4, port: port), timeout: timeout,
                                 pool: NoDelaySocketPool(base: HTTPServer.defaultPool()), logger: .disabled))
    }
}

/// The default socket pool, with TCP_NODELAY set on every socket it waits on. FlyingFox writes a
/// response's header and body in two writes and leaves Nagle's algorithm on: with the client's
/// delayed ACK, an answer on a kept-alive connection could wait 40 ms (measured on `serve`: /similar
/// at 177 requests/s and p50 44 ms with 8 clients, for ~1 ms of work each).
public struct NoDelaySocketPool<Base: AsyncSocketPool>: AsyncSocketPool {
    let base: Base
    public init(base: Base) { self.base = base }
    private static var noDelay: BoolSocketOption { BoolSocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY) }

    public func prepare() async throws { try await base.prepare() }
    public func run() async throws { try await base.run() }

    public func suspendSocket(_ socket: Socket, untilReadyFor events: Socket.Events) async throws {
        try? socket.setValue(true, for: Self.noDelay)  // one cheap syscall; the listening socket ignores it
        try await base.suspendSocket(socket, untilReadyFor: events)
    }
}
