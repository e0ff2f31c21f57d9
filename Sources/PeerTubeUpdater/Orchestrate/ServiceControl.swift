import Foundation
import Logging

public struct ServiceControlError: Error, CustomStringConvertible {
    public var message: String
    /// systemd does not run on this machine at all.
    public var systemdMissing = false
    public var description: String { "systemctl: \(message)" }
}

/// Stops and starts the API service around the merge with `systemctl` (the worker's service_stop and service_start stages).
public struct ServiceControl: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Off unless asked for: the worker then never touches the service.
        public var enabled = false
        public var name = "peertube-browser"
        /// `systemctl` on PATH by default; another binary (e.g. a `sudo -n systemctl` wrapper).
        public var executable = "systemctl"
        public init() {}
    }

    public let settings: Settings
    private let executablePath: String

    /// Checks, before any work, that the service can be controlled at all: the executable exists and,
    /// for the real `systemctl`, systemd is running (it is not in most containers and CI machines).
    ///
    /// - Throws: `ServiceControlError` when systemd is absent or `systemctl` fails.
    public init(settings: Settings) throws {
        self.settings = settings
        guard let path = Self.resolve(settings.executable) else {
            throw ServiceControlError(message: "'\(settings.executable)' not found or not executable (needed to stop and start \(settings.name))")
        }
        if (settings.executable as NSString).lastPathComponent == "systemctl",
           !FileManager.default.fileExists(atPath: "/run/systemd/system") {
            throw ServiceControlError(message: "systemd is not running on this machine (/run/systemd/system is missing), so service \(settings.name) cannot be stopped",
                                      systemdMissing: true)
        }
        executablePath = path
    }

    /// - Throws: `ServiceControlError` when systemd is absent or `systemctl` fails.
    public func stop(logger: Logger) throws { try run("stop", logger: logger) }
    /// - Throws: `ServiceControlError` when systemd is absent or `systemctl` fails.
    public func start(logger: Logger) throws { try run("start", logger: logger) }

    private func run(_ verb: String, logger: Logger) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executablePath)
        process.arguments = [verb, settings.name]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let detail = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ServiceControlError(message: "\(verb) \(settings.name) failed (exit \(process.terminationStatus))\(detail.isEmpty ? "" : ": \(detail)")")
        }
        logger.info("service: \(verb) \(settings.name) ok")
    }

    private static func resolve(_ executable: String) -> String? {
        let fm = FileManager.default
        if executable.contains("/") { return fm.isExecutableFile(atPath: executable) ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(executable)" }.first(where: fm.isExecutableFile(atPath:))
    }
}
