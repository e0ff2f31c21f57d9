@preconcurrency import Dispatch
@preconcurrency import Foundation

/// Returns when SIGINT or SIGTERM arrives (`serve`, `sim serve`).
///
/// The dispatch sources are owned by the stream's termination handler, so they live exactly as long
/// as the wait. Held only by a local variable they would not: an optimised build may free them right
/// after their last use, before any signal comes, and the signal (ignored with SIG_IGN so the source
/// alone sees it) would then be dropped.
func waitForTermination() async {
    let signals = AsyncStream<Int32> { continuation in
        let sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            return source
        }
        continuation.onTermination = { _ in sources.forEach { $0.cancel() } }
    }
    for await _ in signals { return }
}
