import Foundation

/// A raw TCP connection to 127.0.0.1, for requests no URL client would send: oversized, malformed,
/// half-sent. Blocking reads with a deadline.
final class RawHTTPConnection {
    let fd: Int32

    /// - Throws: when the connection cannot be made.
    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    /// Sends `bytes`; false when the peer no longer takes them.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// What arrives until the peer closes, or `timeout` passes, or (with `untilEndOfResponse`) one
    /// whole response (head and Content-Length body) is in; `closed` tells whether the peer closed.
    func read(timeout: Duration, untilEndOfResponse: Bool = false) -> (data: Data, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = deadline - ContinuousClock.now
            let ready = poll(&poller, 1, Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            if ready <= 0 { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (data, true) }
            data.append(contentsOf: buffer[0..<n])
            if untilEndOfResponse, let response = RawHTTPResponse(data), response.complete { return (data, false) }
        }
        return (data, false)
    }

    /// One response, read within `timeout`.
    func response(timeout: Duration = .seconds(2)) -> RawHTTPResponse? {
        RawHTTPResponse(read(timeout: timeout, untilEndOfResponse: true).data)
    }
}

/// A parsed HTTP/1.1 response: status, headers (lower-cased names), body.
struct RawHTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: Data
    /// The body holds all of Content-Length.
    var complete: Bool

    init?(_ data: Data) {
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first?.split(separator: " "), statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        self.status = status
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
        let body = data[end.upperBound...]
        self.body = body
        complete = headers["content-length"].flatMap(Int.init).map { body.count >= $0 } ?? true
    }

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
}
