import Foundation

/// A `.safetensors` file mapped into memory: an 8-byte little-endian header length, a JSON header
/// (name → dtype, shape, byte offsets), then the raw tensors. Only what MiniLM needs: float32 tensors,
/// checked against the shapes the caller expects.
public final class SafeTensors: @unchecked Sendable {
    public let path: String
    private let data: Data
    private let dataStart: Int
    private var entries: [String: (dtype: String, shape: [Int], range: Range<Int>)] = [:]

    /// - Throws: `ModelError.invalid` when the header, a tensor's dtype, shape or extent is wrong.
    public init(path: String) throws {
        self.path = path
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw FileManager.default.fileExists(atPath: path) ? ModelError.unreadable(path: path) : ModelError.missing(path: path)
        }
        guard data.count >= 8 else { throw ModelError.invalid(path: path, reason: "file is \(data.count) bytes, too short for a header") }
        let headerLength = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard headerLength > 0, 8 + headerLength <= data.count else {
            throw ModelError.invalid(path: path, reason: "header length \(headerLength) exceeds the file (\(data.count) bytes): truncated?")
        }
        dataStart = 8 + headerLength
        guard let header = (try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart))) as? [String: Any] else {
            throw ModelError.invalid(path: path, reason: "header is not JSON")
        }
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] <= offsets[1], dataStart + offsets[1] <= data.count else {
                throw ModelError.invalid(path: path, reason: "tensor \(name) lies outside the file: truncated?")
            }
            entries[name] = (dtype, shape, (dataStart + offsets[0])..<(dataStart + offsets[1]))
        }
    }

    /// A float32 tensor with exactly `shape`, copied out (the encoder keeps its weights in arrays).
    ///
    /// - Throws: `ModelError.invalid` when the header, a tensor's dtype, shape or extent is wrong.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let entry = entries[name] else { throw ModelError.invalid(path: path, reason: "no tensor \(name)") }
        guard entry.dtype == "F32", entry.shape == shape, entry.range.count == shape.reduce(1, *) * 4 else {
            throw ModelError.invalid(path: path, reason: "tensor \(name) is \(entry.dtype) \(entry.shape), expected F32 \(shape)")
        }
        return data.withUnsafeBytes { EmbeddingBlob.decode(UnsafeRawBufferPointer(rebasing: $0[entry.range])) }
    }
}
