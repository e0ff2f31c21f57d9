import ArgumentParser
import Foundation
import PeerTubeUpdater

struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Inspect the single-run lock, or run a maintenance command under it.",
        subcommands: [Status.self, Hold.self]
    )

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the lock is free, held, or stale.")
        @OptionGroup var prod: ProdOptions

        func run() throws {
            let path = prod.lockPath
            switch RunLock.state(at: path, guarding: prod.prodPath) {
            case .free: print("free: \(path)")
            case .held(let pid): print("held by pid \(pid.map(String.init) ?? "unknown"): \(path)")
            case .stale(let pid): print("stale (pid \(pid.map(String.init) ?? "unknown") is gone; the next run takes it over): \(path)")
            }
        }
    }

    struct Hold: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command while holding the lock, so no updater run can start meanwhile.",
            discussion: "Example: peertube-updater lock hold --prod-db data/whitelist.db -- sqlite3 data/whitelist.db VACUUM"
        )
        @OptionGroup var prod: ProdOptions
        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
        var command: [String]
        @OptionGroup var log: LogOptions

        func run() throws {
            guard let executable = command.first else { throw ValidationError("name a command after --") }
            let logger = try log.makeLogger("lock")
            let status = try RunLock.withLock(at: prod.lockPath, guarding: prod.prodPath, logger: logger) { () throws -> Int32 in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [executable] + command.dropFirst()
                try process.run()
                process.waitUntilExit()
                return process.terminationStatus
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
