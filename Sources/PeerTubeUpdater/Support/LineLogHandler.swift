import Foundation
import Logging

/// Plain log lines for people: `2026-11-24T20:00:00.123Z INFO  message`, written to a standard
/// stream and, when given, appended to a log file (the worker's `worker.log`). Messages and metadata
/// are escaped (`escapedForLog`): one event is always exactly one line, whatever text from outside
/// it quotes, and no control sequence reaches a terminal.
public struct LineLogHandler: LogHandler {
    /// Where lines go. Shared by every copy of the handler so lines from concurrent tasks never
    /// interleave mid-line.
    public final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private let stream: FileHandle?
        private let file: FileHandle?

        /// `stream` is stdout or stderr (nil: none); `filePath` is created or appended to.
        ///
        /// - Throws: `StorageError.refusedPath` when the log file cannot be created or written.
        public init(stream: FileHandle?, filePath: String? = nil) throws {
            self.stream = stream
            if let filePath {
                // The worker's default log lives in the data folder, which may not exist yet.
                let folder = (filePath as NSString).deletingLastPathComponent
                if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                if !FileManager.default.fileExists(atPath: filePath) {
                    _ = FileManager.default.createFile(atPath: filePath, contents: nil)
                }
                guard let handle = FileHandle(forWritingAtPath: filePath) else {
                    throw StorageError.refusedPath(path: filePath, reason: "the log file cannot be created or written")
                }
                handle.seekToEndOfFile()
                self.file = handle
            } else {
                self.file = nil
            }
        }

        func write(_ line: String) {
            let data = Data((line + "\n").utf8)
            lock.lock()
            defer { lock.unlock() }
            stream?.write(data)
            file?.write(data)
        }
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let sink: Sink

    public init(sink: Sink, level: Logger.Level = .info) {
        self.sink = sink
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let stamp = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        let level = event.level.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)
        var line = "\(stamp) \(level) \(event.message.description.escapedForLog)"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)".escapedForLog }.joined(separator: " ")
        }
        sink.write(line)
    }
}
