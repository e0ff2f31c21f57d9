/// FNV-1a, 64 bits: a fast, stable (unseeded) hash for noticing accidental change and for cache
/// keys. Not cryptographic.
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func combine(byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    public mutating func combine<S: Sequence<UInt8>>(bytes: S) {
        for byte in bytes { combine(byte: byte) }
    }

    /// The hash of `bytes` as 16 hex digits.
    public static func hex<S: Sequence<UInt8>>(_ bytes: S) -> String {
        var hasher = FNV1a64()
        hasher.combine(bytes: bytes)
        let text = String(hasher.value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
