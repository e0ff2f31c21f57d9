import GRDB

/// Positions by a video's natural key, looked up from the key's UTF-8 bytes as SQLite hands them
/// out, so reading a cached list makes no `String` per row (`EmbeddingSet.position` needs two,
/// and hashing them; over the million rows an incremental run reads that was a second).
/// Open addressing over a power-of-two table of positions; a hit is confirmed against the key.
struct EmbeddingKeyTable: Sendable {
    private let keys: [EmbeddingSet.Key]
    /// Position + 1 per slot; 0 for an empty slot.
    private let slots: [Int32]
    private let mask: Int

    init(_ keys: [EmbeddingSet.Key]) {
        self.keys = keys
        var size = 16
        while size < keys.count * 2 { size <<= 1 }
        var slots = [Int32](repeating: 0, count: size)
        for (position, key) in keys.enumerated() {
            var slot = Self.hash(key.videoID.utf8, key.host.utf8) & (size - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (size - 1) }
            slots[slot] = Int32(position + 1)
        }
        self.slots = slots
        mask = size - 1
    }

    /// The position of the video whose key is (`videoID`, `host`), or nil when the set lacks it.
    func position(videoID: UnsafeRawBufferPointer, host: UnsafeRawBufferPointer) -> Int? {
        var slot = Self.hash(videoID, host) & mask
        while slots[slot] != 0 {
            let position = Int(slots[slot]) - 1
            if keys[position].videoID.utf8.elementsEqual(videoID), keys[position].host.utf8.elementsEqual(host) { return position }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// FNV-1a over the two keys' bytes, a separator between them (no key holds a 0xFF byte: UTF-8).
    private static func hash<A: Sequence<UInt8>, B: Sequence<UInt8>>(_ videoID: A, _ host: B) -> Int {
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
