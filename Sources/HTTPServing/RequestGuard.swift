import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// Connections open at once, across the server's event loops.
final class ConnectionCap: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection in; false when it is past the cap (it still counts until `leave`).
    func enter() -> Bool { open.wrappingAdd(1, ordering: .relaxed).newValue <= limit }
    func leave() { open.wrappingSubtract(1, ordering: .relaxed) }
}

/// Watches the raw bytes of a connection before the HTTP decoder: each request line's length and
/// first bytes. The decoder reports one error for any oversized field (the request target counts as
/// one), so this tells a URI too long (414) from headers too large (431), and an unknown method (405)
/// from garbage (400). Lines stay pending until the decoder delivers their head (a buffer may hold
/// several requests, read here before the decoder sees them). Bodies are not skipped: a body is read
/// as if it were the next request line, which matters only should the decoder then fail, and the
/// read API takes none.
final class RequestLineWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct Line {
        var length = 0
        /// Its first bytes (enough to see a method token and its space).
        var start: [UInt8] = []

        /// Starts with a method token and a space (RFC 9110's tchar).
        var startsWithMethodToken: Bool {
            guard let space = start.firstIndex(of: UInt8(ascii: " ")), space > 0 else { return false }
            let tchar = Set("!#$%&'*+-.^_`|~".utf8)
            return start[..<space].allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || tchar.contains($0) }
        }
    }

    private let limit: Int
    private var pending: [Line] = []
    private var atRequestStart = true, inRequestLine = false
    private var lineLength = 0

    init(limit: Int) { self.limit = limit }

    /// The request line whose head the decoder is parsing (the oldest not yet delivered).
    var current: Line? { pending.first }
    func isTooLong(_ line: Line) -> Bool { line.length > limit }

    /// The decoder delivered the oldest pending request's head.
    func delivered() { if !pending.isEmpty { pending.removeFirst() } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for byte in buffer.readableBytesView {
            if atRequestStart, byte != UInt8(ascii: "\r"), byte != UInt8(ascii: "\n") {
                (atRequestStart, inRequestLine, lineLength) = (false, true, 0)
                if pending.count < 64 { pending.append(Line()) }
            }
            switch byte {
            case UInt8(ascii: "\n"):
                if inRequestLine {
                    inRequestLine = false
                } else if lineLength == 0 && !atRequestStart {
                    atRequestStart = true  // the empty line ends the head
                }
                lineLength = 0
            case UInt8(ascii: "\r"):
                continue
            default:
                lineLength += 1
                guard inRequestLine, !pending.isEmpty else { continue }
                pending[pending.count - 1].length += 1
                if pending[pending.count - 1].start.count < 32 { pending[pending.count - 1].start.append(byte) }
            }
        }
        context.fireChannelRead(data)
    }
}

/// After the HTTP codec: turns the decoder's refusals into problem answers instead of a bare close
/// (414, 431, 405 with `Allow`, 400), answers a connection past the cap with 503, and refuses a
/// request that frames its body two ways (Content-Length with Transfer-Encoding). Each of these
/// answers closes the connection.
final class RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let watch: RequestLineWatch
    private let cap: ConnectionCap
    private let allow: String
    private var counted = false, admitted = true, refused = false

    init(watch: RequestLineWatch, cap: ConnectionCap, allow: String) {
        self.watch = watch
        self.cap = cap
        self.allow = allow
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { count() }
    }

    func channelActive(context: ChannelHandlerContext) {
        count()
        context.fireChannelActive()
    }

    private func count() {
        guard !counted else { return }
        counted = true
        admitted = cap.enter()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { cap.leave() }
        counted = false
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            watch.delivered()
            guard admitted else {
                return refuse(context, 503, "the server holds its most connections (\(cap.limit)); try again shortly")
            }
            if head.headerFields[.contentLength] != nil, head.headerFields[.transferEncoding] != nil {
                return refuse(context, 400, "a request may not carry both Content-Length and Transfer-Encoding")
            }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parse = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        let line = watch.current
        switch parse {
        case .headerOverflow where line.map(watch.isTooLong) == true:
            refuse(context, 414, "the request line is longer than the server reads")
        case .headerOverflow:
            refuse(context, 431, "the request's header fields are larger, or more, than the server reads")
        case .invalidMethod where line?.startsWithMethodToken == true:
            refuse(context, 405, "this method is not served; use \(allow)", headers: [.allow: allow])
        default:
            refuse(context, 400, "the request is not valid HTTP/1.1 (\(parse))")
        }
    }

    /// Answers a problem, then closes; whatever else arrives is dropped.
    private func refuse(_ context: ChannelHandlerContext, _ status: Int, _ detail: String, headers: HTTPFields = [:]) {
        guard !refused else { return }
        refused = true
        let body = HTTPProblem.body(status: status, detail: detail)
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .init(code: status), headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
