import FlyingSocks
import Foundation

/// A body sent slowly: `bytesPerSecond` bytes each second, or (nil) never after the headers. Ends
/// early when the simulator stops.
struct PacedBody: AsyncBufferedSequence {
    typealias Element = UInt8
    let data: Data
    let bytesPerSecond: Int?
    let isStopped: @Sendable () -> Bool

    func makeAsyncIterator() -> Iterator { Iterator(body: self) }

    struct Iterator: AsyncBufferedIteratorProtocol {
        let body: PacedBody
        var offset = 0

        mutating func next() async throws -> UInt8? { try await nextBuffer(suggested: 1)?.first }

        /// At most `count` bytes, after the pause their share of the rate takes.
        mutating func nextBuffer(suggested count: Int) async throws -> [UInt8]? {
            guard offset < body.data.count else { return nil }
            guard let rate = body.bytesPerSecond, rate > 0 else {
                while !body.isStopped() { try await Task.sleep(for: .milliseconds(100)) }
                throw CancellationError()
            }
            let taken = Swift.min(body.data.count - offset, Swift.max(1, Swift.min(count, rate)))
            try await Task.sleep(for: .milliseconds(1000 * taken / rate))
            if body.isStopped() { throw CancellationError() }
            let start = body.data.startIndex + offset
            offset += taken
            return Array(body.data[start..<(start + taken)])
        }
    }
}
