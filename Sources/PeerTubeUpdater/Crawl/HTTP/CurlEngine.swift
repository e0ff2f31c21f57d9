import CCurl
import Foundation
import Synchronization

/// One HTTP GET as libcurl performs it: no redirects followed (the policy above decides), a hard
/// size cap on the body, and an optional loopback route for the host (curl's `--connect-to`).
struct CurlRequest: Sendable {
    var url: String
    var timeoutMs: Int
    var connectTimeoutMs: Int
    var maxBodyBytes: Int
    var userAgent: String
    var accept: String = "application/json"
    /// `HOST:PORT:ADDRESS:ADDRESS_PORT` entries: connect elsewhere, keep the URL and the Host header.
    var connectTo: [String] = []
}

// MARK: - CurlResponse

/// What came back: a status and body, or the transport failure that prevented one.
struct CurlResponse: Sendable {
    var status: Int = 0
    var body = Data()
    var headers: [String: String] = [:]
    var redirectURL: String?
    var curlCode: Int = 0
    var curlError: String?
    var bodyTooLarge = false
    var elapsedMs: Int = 0
}

// MARK: - CurlEngine

/// libcurl's multi interface driven by one thread: every transfer of the process shares its
/// connection cache (keep-alive reuse), and waiting costs no thread per request.
final class CurlEngine: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let queue = Mutex<[Transfer]>([])
    private let stopping = Atomic<Bool>(false)
    private var loop: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the transfer thread. `maxConnections` bounds the connection cache.
    init(maxConnections: Int) {
        _ = Self.globalInit
        multi = curl_multi_init()
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(8, maxConnections))
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "curl-engine"
        loop = thread
        thread.start()
    }

    deinit {
        shutdown()
        curl_multi_cleanup(multi)
    }

    /// Stops the transfer thread; transfers still running end with a "shut down" error.
    func shutdown() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        curl_multi_wakeup(multi)
        finished.wait()
    }

    /// Performs one request.
    func perform(_ request: CurlRequest) async -> CurlResponse {
        await withCheckedContinuation { continuation in
            let transfer = Transfer(request: request, continuation: continuation)
            if stopping.load(ordering: .sequentiallyConsistent) {
                transfer.finish(code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "HTTP engine shut down")
                return
            }
            queue.withLock { $0.append(transfer) }
            curl_multi_wakeup(multi)
        }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    private func run() {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        while !stopping.load(ordering: .sequentiallyConsistent) {
            for transfer in queue.withLock({ q -> [Transfer] in defer { q.removeAll() }; return q }) {
                guard let easy = transfer.makeHandle() else { continue }
                active[easy] = transfer
                curl_multi_add_handle(multi, easy)
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                curl_multi_remove_handle(multi, easy)
                active.removeValue(forKey: easy)?.complete(code: ccurl_message_result(message))
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for (easy, transfer) in active {
            curl_multi_remove_handle(multi, easy)
            transfer.finish(code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "HTTP engine shut down")
        }
        for transfer in queue.withLock({ q -> [Transfer] in defer { q.removeAll() }; return q }) {
            transfer.finish(code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "HTTP engine shut down")
        }
        finished.signal()
    }
}

// MARK: - Transfer

/// One in-flight transfer: owns its easy handle, buffers and header list until it completes.
private final class Transfer: @unchecked Sendable {  // handed once to the engine thread, then only touched there
    let request: CurlRequest
    let continuation: CheckedContinuation<CurlResponse, Never>
    var response = CurlResponse()
    var handle: UnsafeMutableRawPointer?
    var lists: [UnsafeMutablePointer<curl_slist>] = []
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    let started = ContinuousClock.now

    init(request: CurlRequest, continuation: CheckedContinuation<CurlResponse, Never>) {
        self.request = request
        self.continuation = continuation
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
        for list in lists { curl_slist_free_all(list) }
        if let handle { curl_easy_cleanup(handle) }
    }

    func makeHandle() -> UnsafeMutableRawPointer? {
        guard let easy = curl_easy_init() else {
            finish(code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed")
            return nil
        }
        handle = easy
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_setopt_string(easy, CURLOPT_URL, request.url)
        _ = ccurl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.timeoutMs)
        _ = ccurl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMs)
        _ = ccurl_setopt_string(easy, CURLOPT_USERAGENT, request.userAgent)
        _ = ccurl_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "")
        _ = ccurl_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maxBodyBytes))
        _ = ccurl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = ccurl_setopt_write_function(easy, CURLOPT_WRITEFUNCTION, curlWriteBody)
        _ = ccurl_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
        _ = ccurl_setopt_write_function(easy, CURLOPT_HEADERFUNCTION, curlWriteHeader)
        _ = ccurl_setopt_pointer(easy, CURLOPT_HEADERDATA, context)
        if let headers = curl_slist_append(nil, "Accept: \(request.accept)") {
            lists.append(headers)
            _ = ccurl_setopt_slist(easy, CURLOPT_HTTPHEADER, headers)
        }
        if !request.connectTo.isEmpty {
            var list: UnsafeMutablePointer<curl_slist>?
            for entry in request.connectTo { list = curl_slist_append(list, entry) }
            if let list {
                lists.append(list)
                _ = ccurl_setopt_slist(easy, CURLOPT_CONNECT_TO, list)
            }
        }
        return easy
    }

    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard response.body.count + bytes.count <= request.maxBodyBytes else {
            response.bodyTooLarge = true
            return false
        }
        response.body.append(contentsOf: bytes)
        return true
    }

    func appendHeader(_ line: String) {
        if line.hasPrefix("HTTP/") { response.headers.removeAll(); return }  // a new response (e.g. after 100)
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        response.headers[name] = value
    }

    func complete(code: CURLcode) {
        guard let easy = handle else { return }
        var status = 0
        _ = ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        response.status = status
        var redirect: UnsafeMutablePointer<CChar>?
        if ccurl_getinfo_string(easy, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK, let redirect {
            response.redirectURL = String(cString: redirect)
        }
        if code == CURLE_FILESIZE_EXCEEDED { response.bodyTooLarge = true }
        let detail = String(cString: errorBuffer)
        finish(code: Int(code.rawValue),
               message: code == CURLE_OK ? nil : (detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail))
    }

    func finish(code: Int, message: String?) {
        response.curlCode = code
        response.curlError = message
        response.elapsedMs = started.elapsedMilliseconds
        continuation.resume(returning: response)
    }
}

private func curlWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                           _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return transfer.appendBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private func curlWriteHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                             _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    transfer.appendHeader(line)
    return length
}
