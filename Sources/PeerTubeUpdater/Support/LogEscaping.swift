extension String {
    /// The string made safe for one log line, error message or terminal: control characters (C0, DEL,
    /// C1) and the Unicode bidirectional overrides become visible escapes (`\n`, `\r`, `\t`,
    /// `\u{1b}`, `\u{202e}`, …), so text from the network or an input file can neither forge a line
    /// nor drive the operator's terminal. Everything else is kept as it is.
    public var escapedForLog: String {
        guard unicodeScalars.contains(where: Self.needsEscape) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where Self.needsEscape(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: true  // bidi overrides and isolates, line/paragraph separators
        default: false
        }
    }
}
