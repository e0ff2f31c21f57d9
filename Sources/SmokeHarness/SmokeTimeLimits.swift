import Foundation
import Synchronization

/// A phase of a smoke session, each with its own time limit (`SmokeTimeLimits.limit(of:)`): what the
/// report's error names when the phase runs past it.
public enum SmokePhase: Sendable, Hashable, CustomStringConvertible {
    /// Source DB, hosts, mini-prod, whitelist server and simulated federation.
    case fixture
    case mainRun
    case failureScenario(FailureScenario)
    /// The day-two scenario as a whole: day one, the refresh run under load, day three.
    case dayTwo
    /// One worker run inside the day-two scenario.
    case dayTwoRun(String)
    /// `serve` opening the day-one artifacts and listening.
    case serveStart
    /// `serve` switching to the generation the refresh run published.
    case generationWait
    /// `serve` ending after SIGTERM.
    case serveStop

    public var description: String {
        switch self {
        case .fixture: "fixture"
        case .mainRun: "main_run"
        case .failureScenario(let scenario): "failure_scenario:\(scenario.rawValue)"
        case .dayTwo: "day_two"
        case .dayTwoRun(let name): "day_two/\(name)"
        case .serveStart: "day_two/serve_start"
        case .generationWait: "day_two/await_new_generation"
        case .serveStop: "day_two/serve_stop"
        }
    }
}

/// A phase ran past its time limit. What it started was killed; the phase itself was not waited for.
public struct PhaseTimeout: Error, CustomStringConvertible {
    public var phase: SmokePhase
    public var limit: Duration
    /// The child processes killed when the limit passed.
    public var killed: [String]

    public var description: String {
        let seconds = Int(limit.seconds.rounded(.up))
        let what = killed.isEmpty ? "" : "; killed \(killed.joined(separator: ", "))"
        return "phase \(phase) exceeded its time limit of \(seconds) s\(what) (a slow machine: raise --time-limit-factor)"
    }
}

/// The child processes a smoke session started and has not seen end (worker runs, `serve`): what a
/// phase past its limit kills.
public final class ChildProcesses: Sendable {
    private let running = Mutex<[Int32: String]>([:])

    public init() {}

    /// `pid` was started (`label`: what it is, for the report).
    public func started(_ pid: Int32, _ label: String) { running.withLock { $0[pid] = label } }
    /// `pid` ended (reaped): never to be killed by this registry.
    public func ended(_ pid: Int32) { _ = running.withLock { $0.removeValue(forKey: pid) } }

    /// SIGKILLs every process still running; returns their labels (`worker pid 123`).
    @discardableResult
    public func killAll() -> [String] {
        let victims = running.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for pid in victims.keys { kill(pid, SIGKILL) }
        return victims.sorted { $0.key < $1.key }.map { "\($0.value) pid \($0.key)" }
    }
}

/// The time limit of each phase, derived from its work: every text that could be new embedded at a
/// rate no supported machine falls below, every vector indexed and searched likewise, plus a fixed
/// allowance for starting processes, the crawl and the checks. `--time-limit-factor` scales them all.
public struct SmokeTimeLimits: Sendable {
    /// Texts embedded per second, whole worker, at the least (this 2-core VM: ~70 in debug builds).
    static let textsPerSecond = 10.0
    /// Vectors through the ANN build and the similarity stage per second, at the least (here: ~5,000).
    static let vectorsPerSecond = 500.0
    /// Start-up, crawl, merge and checks of one worker run.
    static let runAllowance = 60.0
    /// How long `serve` may take to exit after SIGTERM before it is killed and the stop fails.
    public static let serveGrace: Duration = .seconds(10)

    public var factor: Double
    /// Videos the simulated federation serves: the most one run can find new.
    public var corpusVideos: Int
    /// Embeddings of the mini-prod: what every run indexes at least.
    public var miniProdVectors: Int

    public init(factor: Double, corpusVideos: Int, miniProdVectors: Int) {
        self.factor = factor
        self.corpusVideos = corpusVideos
        self.miniProdVectors = miniProdVectors
    }

    private func scaled(_ seconds: Double) -> Duration { .milliseconds(Int64((seconds * factor * 1000).rounded(.up))) }

    /// Building the fixture: at worst the embedded default source (every corpus video embedded once).
    private var fixture: Duration { scaled(120 + Double(corpusVideos) / Self.textsPerSecond) }

    /// One worker run on a mini-prod: every video it could find new embedded, every vector indexed.
    private var workerRun: Duration {
        let texts = Double(max(0, corpusVideos - miniProdVectors))
        return scaled(Self.runAllowance + texts / Self.textsPerSecond + Double(corpusVideos) / Self.vectorsPerSecond)
    }

    /// The limit of `phase`.
    public func limit(of phase: SmokePhase) -> Duration {
        switch phase {
        case .fixture: fixture
        case .mainRun, .failureScenario, .dayTwoRun: workerRun
        case .serveStart: scaled(60)
        case .generationWait: scaled(30)
        // SIGTERM, the grace period, then SIGKILL and its reaping.
        case .serveStop: Self.serveGrace + scaled(5)
        // Three worker runs, serve's start and stop, the generation wait, two 2-second load windows
        // and the answers asked before and after.
        case .dayTwo: workerRun * 3 + limit(of: .serveStart) + limit(of: .generationWait) + limit(of: .serveStop) + scaled(60)
        }
    }

    /// Runs `body` within `limit`. Past it, every process in `children` is killed and `PhaseTimeout`
    /// thrown at once: `body` is cancelled but not waited for, so a phase that hangs (a process that
    /// ignores signals, a read that never returns) is reported, never waited out.
    ///
    /// - Throws: `PhaseTimeout`, or what `body` throws.
    private static let watchdog = DispatchQueue(label: "smoke.phase-watchdog")

    public func bounded<T: Sendable>(_ phase: SmokePhase, children: ChildProcesses,
                                     _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = limit(of: phase)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            // Whoever takes the continuation first (the work, or the deadline) resumes it.
            let waiting = OnceContinuation(continuation)
            let work = Task {
                do {
                    let value = try await body()
                    waiting.take()?.resume(returning: value)
                } catch {
                    waiting.take()?.resume(throwing: error)
                }
            }
            // A Dispatch timer, not a task: the watchdog must fire even when the cooperative pool is
            // busy or blocked (a hang can hold its threads; under load a task's sleep ran 40x late).
            // On a queue of its own, which Dispatch gives a thread whatever holds the global queue's
            // few (blocking waits on it delayed the kill of a hung phase past 5 s, once).
            Self.watchdog.asyncAfter(deadline: .now() + .nanoseconds(Int(limit.seconds * 1e9))) {
                guard let continuation = waiting.take() else { return }
                work.cancel()
                continuation.resume(throwing: PhaseTimeout(phase: phase, limit: limit, killed: children.killAll()))
            }
        }
    }
}

/// A continuation that only its first taker resumes.
private final class OnceContinuation<T: Sendable>: Sendable {
    private let slot: Mutex<CheckedContinuation<T, Error>?>

    init(_ continuation: CheckedContinuation<T, Error>) { slot = Mutex(continuation) }

    func take() -> CheckedContinuation<T, Error>? {
        slot.withLock { value in
            defer { value = nil }
            return value
        }
    }
}
