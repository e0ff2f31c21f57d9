import Foundation

/// An HTTP answer of the simulator, before faults and transport.
public struct SimResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data
    /// How the body goes out: at once (nil), `bytesPerSecond`, or never after the headers.
    public var pacing: Pacing?

    public enum Pacing: Sendable, Equatable {
        case bytesPerSecond(Int)
        case stallAfterHeaders
    }

    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body (`application/json; charset=utf-8`).
    static func json(_ object: Any, status: Int = 200) -> SimResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
        return SimResponse(status: status, headers: ["Content-Type": "application/json; charset=utf-8"], body: data)
    }

    static func text(_ text: String, status: Int = 200, type: String = "text/plain; charset=utf-8") -> SimResponse {
        SimResponse(status: status, headers: ["Content-Type": type], body: Data(text.utf8))
    }

    /// PeerTube's RFC 7807 error body.
    static func problem(status: Int, title: String, detail: String, instance: String,
                        invalidParam: (name: String, value: String, message: String)? = nil) -> SimResponse {
        var body: [String: Any] = ["type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance]
        if let invalidParam {
            body["invalid-params"] = [invalidParam.name: ["location": "query", "msg": invalidParam.message,
                                                          "path": invalidParam.name, "value": invalidParam.value, "type": "field"]]
        }
        var response = json(body, status: status)
        response.headers["Content-Type"] = "application/problem+json; charset=utf-8"
        return response
    }

    static func badRequest(_ name: String, value: String, message: String, instance: String) -> SimResponse {
        problem(status: 400, title: "Bad Request", detail: "Incorrect request parameters: \(name)", instance: instance,
                invalidParam: (name, value, message))
    }

    static func notFound(_ detail: String, instance: String) -> SimResponse {
        problem(status: 404, title: "Not Found", detail: detail, instance: instance)
    }

    /// What PeerTube answers for an unknown `/api/v1/*` route: 400 with an empty JSON-typed body.
    static let unknownRoute = SimResponse(status: 400, headers: ["Content-Type": "application/json"])

    /// The Angular client's page, which PeerTube serves for any non-API path.
    static let spaPage = text("<!doctype html><html><head><title>PeerTube</title></head><body><my-app></my-app></body></html>",
                              type: "text/html; charset=utf-8")
}
