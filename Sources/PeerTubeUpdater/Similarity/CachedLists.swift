import Foundation
import GRDB

/// Positions by a video's natural key, looked up from the key's UTF-8 bytes as SQLite hands them
/// out, so reading a cached list makes no `String` per row (a `[Key: Int]` dictionary needs two,
/// and hashing them; over the million rows an incremental run reads that was a second).
/// Open addressing over a power-of-two table of positions; a hit is confirmed against the key's
/// bytes, kept back to back.
struct EmbeddingKeyTable: Sendable {
    /// Each key's video id then host, UTF-8, key after key.
    private let bytes: [UInt8]
    /// Per position: where its key starts in `bytes` (one more entry at the end), and its video id's length.
    private let starts: [Int], idLengths: [Int32]
    /// Position + 1 per slot; 0 for an empty slot.
    private let slots: [Int32]
    private let mask: Int

    init(_ keys: [EmbeddingSet.Key]) {
        var bytes: [UInt8] = [], starts: [Int] = [0], idLengths: [Int32] = []
        starts.reserveCapacity(keys.count + 1)
        for key in keys {
            bytes += key.videoID.utf8
            bytes += key.host.utf8
            starts.append(bytes.count)
            idLengths.append(Int32(key.videoID.utf8.count))
        }
        var size = 16
        while size < keys.count * 2 { size <<= 1 }
        var slots = [Int32](repeating: 0, count: size)
        bytes.withUnsafeBytes { all in
            for position in keys.indices {
                let id = UnsafeRawBufferPointer(rebasing: all[starts[position]..<(starts[position] + Int(idLengths[position]))])
                let host = UnsafeRawBufferPointer(rebasing: all[(starts[position] + Int(idLengths[position]))..<starts[position + 1]])
                var slot = Self.hash(id, host) & (size - 1)
                while slots[slot] != 0 { slot = (slot + 1) & (size - 1) }
                slots[slot] = Int32(position + 1)
            }
        }
        (self.bytes, self.starts, self.idLengths, self.slots, mask) = (bytes, starts, idLengths, slots, size - 1)
    }

    /// The position of the video whose key is (`videoID`, `host`), or nil when the set lacks it.
    func position(videoID: UnsafeRawBufferPointer, host: UnsafeRawBufferPointer) -> Int? {
        var slot = Self.hash(videoID, host) & mask
        return bytes.withUnsafeBytes { all in
            while slots[slot] != 0 {
                let position = Int(slots[slot]) - 1, start = starts[position], idLength = Int(idLengths[position])
                if idLength == videoID.count, starts[position + 1] - start - idLength == host.count,
                   idLength == 0 || memcmp(all.baseAddress! + start, videoID.baseAddress!, idLength) == 0,
                   host.count == 0 || memcmp(all.baseAddress! + start + idLength, host.baseAddress!, host.count) == 0 {
                    return position
                }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    /// FNV-1a over the two keys' bytes, a separator between them (no key holds a 0xFF byte: UTF-8).
    private static func hash(_ videoID: UnsafeRawBufferPointer, _ host: UnsafeRawBufferPointer) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in videoID { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash = (hash ^ 0xFF) &* 0x100_0000_01b3
        for byte in host { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }
}

/// Old lists that only new videos change, updated without a search: each keeps the best k of its
/// cached neighbours (their exact scores are stored) and the new videos offered to it (exact scores
/// too): on the CPU those that met the old video in their own search, on a GPU every one that beats
/// its k-th neighbour. The cached rows are read through SQLite's C API (`BulkStatement`) and their
/// keys resolved by `EmbeddingKeyTable`.
enum CachedListMerge {
    /// - Throws: `DatabaseError` when the cache cannot be read.
    static func merge(_ sources: [Int], offers: [Int: [ExactSearch.Hit]], embeddings: EmbeddingSet, topK: Int,
                      db: Database) throws -> [NeighbourSearch.List] {
        let cached = try BulkStatement(db, sql: """
            SELECT similar_video_id, similar_instance_domain, score FROM main.similarity_items
            WHERE source_video_id = ? AND source_instance_domain = ? ORDER BY rank
            """)
        var order: [ExactSearch.Hit] = []  // the cached neighbours by rank
        return try sources.map { source in
            let key = embeddings.keys[source]
            order.removeAll(keepingCapacity: true)
            var unresolved = false
            try cached.forEachRow(db, { $0.text(1, key.videoID); $0.text(2, key.host) }) { row in
                guard let position = embeddings.keyTable.position(videoID: row.text(0), host: row.text(1)) else {
                    unresolved = true
                    return
                }
                order.append(ExactSearch.Hit(index: position, score: row.isNull(2) ? -1 : Float(row.real(2))))
            }
            var hits = order
            for offer in offers[source] ?? [] where offer.index != source {
                if let known = hits.firstIndex(where: { $0.index == offer.index }) {
                    hits[known].score = max(hits[known].score, offer.score)
                } else {
                    hits.append(offer)
                }
            }
            let top = Array(hits.sorted(by: embeddings.ranksBefore).prefix(topK))
            // Ranks before the first new entry keep their rows (the cache ranks by `ranksBefore` too).
            let kept = unresolved ? 0 : zip(top, order).prefix { $0.index == $1.index }.count
            return NeighbourSearch.List(source: source, hits: top, candidates: [], kept: kept)
        }
    }
}
