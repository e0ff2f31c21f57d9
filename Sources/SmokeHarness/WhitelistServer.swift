import FlyingFox
import HTTPServing
import Foundation
import PeerTubeUpdater

/// The smoke fixture's local whitelist HTTP server: serves the generated JoinPeerTube-shaped
/// `whitelist.json` on 127.0.0.1 and logs every request to `whitelist-http.log`.
public final class WhitelistServer: Sendable {
    private let server: HTTPServer
    private let task: Task<Void, Error>
    public let url: String

    /// Writes `{"total": N, "data": [{"host": …}]}` to `jsonPath` and starts serving it.
    public static func start(hosts: [String], jsonPath: String, logPath: String) async throws -> WhitelistServer {
        let document = JSONValue.object([
            "total": .int(Int64(hosts.count)),
            "data": .array(hosts.map { .object(["host": .string($0)]) }),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let body = try encoder.encode(document)
        try body.write(to: URL(fileURLWithPath: jsonPath))
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw SmokeError("cannot write \(logPath)") }
        let name = "/" + (jsonPath as NSString).lastPathComponent

        let server = try HTTPServer.noDelay(ip4: "127.0.0.1", port: 0, timeout: 30)
        await server.appendRoute("*") { request in
            let path = request.target.path(percentEncoded: true)
            let found = request.method == .GET && path == name
            let status = found ? 200 : 404
            let stamp = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            let agent = request.headers[HTTPHeader("User-Agent")] ?? "-"
            log.write(Data("\(stamp) 127.0.0.1 \"\(request.method.rawValue) \(request.target.rawValue)\" \(status) \(found ? body.count : 0) \"\(agent)\"\n".utf8))
            return found
                ? HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: body)
                : HTTPResponse(statusCode: .notFound, headers: [.contentType: "text/plain"], body: Data("not found\n".utf8))
        }
        let task = Task { try await server.run() }
        try await server.waitUntilListening(timeout: 60)  // its default 5 s is too short on a loaded 2-core machine
        guard case .ip4(let ip, let port) = await server.listeningAddress else { throw SmokeError("whitelist server is not listening") }
        return WhitelistServer(server: server, task: task, url: "http://\(ip):\(port)\(name)")
    }

    private init(server: HTTPServer, task: Task<Void, Error>, url: String) {
        self.server = server
        self.task = task
        self.url = url
    }

    public func stop() async {
        await server.stop(timeout: 0)
        task.cancel()
    }
}
