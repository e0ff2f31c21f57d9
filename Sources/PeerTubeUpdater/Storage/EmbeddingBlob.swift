import Foundation

/// `video_embeddings.embedding`: float32 values, little-endian, back to back, as PeerTube-browser
/// stores them. The one encoder and decoder of that format. On a little-endian machine (every one
/// Swift runs on here) the blob is the floats' memory image: one copy each way.
public enum EmbeddingBlob {
    public static func encode(_ vector: [Float]) -> Data {
        #if _endian(little)
        return vector.withUnsafeBytes { Data($0) }
        #else
        var data = Data(capacity: vector.count * 4)
        for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
        #endif
    }

    /// The floats of `bytes` (a whole number of 4-byte values; a trailing partial value is ignored).
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> [Float] {
        let count = bytes.count / 4
        #if _endian(little)
        return [Float](unsafeUninitializedCapacity: count) { values, initialized in
            if count > 0 { UnsafeMutableRawPointer(values.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: count * 4) }
            initialized = count
        }
        #else
        return (0..<count).map {
            Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
        }
        #endif
    }

    public static func decode(_ data: Data) -> [Float] {
        data.withUnsafeBytes { decode($0) }
    }
}
