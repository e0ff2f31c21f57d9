import Foundation

/// `video_embeddings.embedding`: float32 values, little-endian, back to back, as PeerTube-browser
/// stores them. The one encoder and decoder of that format.
public enum EmbeddingBlob {
    public static func encode(_ vector: [Float]) -> Data {
        var data = Data(capacity: vector.count * 4)
        for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The floats of `bytes` (a whole number of 4-byte values; a trailing partial value is ignored).
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> [Float] {
        (0..<(bytes.count / 4)).map {
            Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
        }
    }

    public static func decode(_ data: Data) -> [Float] {
        data.withUnsafeBytes { decode($0) }
    }
}
