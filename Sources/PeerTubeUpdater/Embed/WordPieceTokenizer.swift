import Foundation

/// BERT uncased WordPiece, as all-MiniLM-L6-v2's `tokenizer.json` defines it: BertNormalizer (clean
/// text, CJK characters padded, NFD with accents stripped, lower-cased), BertPreTokenizer (split on
/// whitespace and punctuation), WordPiece with `##` continuations and `[UNK]`, then
/// `[CLS] … [SEP]` truncated to `maxLength` tokens in all.
///
/// Works on Unicode scalars throughout, as the reference (Rust `char`s) does; Swift's grapheme
/// clusters would merge an accent or an emoji modifier into its base and change the tokens.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int32]
    public let maxLength: Int
    public let cls: Int32, sep: Int32, unk: Int32
    static let maxCharsPerWord = 100

    /// Reads `vocab.txt` (one token per line, the id is the line number).
    ///
    /// - Throws: `ModelError` when the vocabulary cannot be read or is empty.
    public init(vocabularyFile: String, maxLength: Int) throws {
        guard let text = try? String(contentsOfFile: vocabularyFile, encoding: .utf8) else {
            throw ModelError.unreadable(path: vocabularyFile)
        }
        var vocabulary: [String: Int32] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            vocabulary[String(line)] = Int32(index)
        }
        guard let cls = vocabulary["[CLS]"], let sep = vocabulary["[SEP]"], let unk = vocabulary["[UNK]"] else {
            throw ModelError.invalid(path: vocabularyFile, reason: "vocabulary lacks [CLS], [SEP] or [UNK]")
        }
        self.vocabulary = vocabulary
        self.maxLength = maxLength
        self.cls = cls
        self.sep = sep
        self.unk = unk
    }

    /// Token ids with `[CLS]` and `[SEP]`, at most `maxLength` of them.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [cls]
        let budget = maxLength - 2
        for word in preTokenize(normalize(text)) {
            appendWordPieces(of: word, to: &ids)
            if ids.count - 1 >= budget { break }
        }
        if ids.count - 1 > budget { ids.removeLast(ids.count - 1 - budget) }
        ids.append(sep)
        return ids
    }

    // MARK: BertNormalizer

    func normalize(_ text: String) -> String {
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                cleaned.append(" ")
            } else if Self.isCJK(value) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        var stripped = String.UnicodeScalarView()
        for scalar in String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
        where scalar.properties.generalCategory != .nonspacingMark {
            stripped.append(scalar)
        }
        return String(stripped).lowercased()
    }

    // MARK: BertPreTokenizer

    /// Words: runs of scalars split at whitespace (dropped) and at punctuation (kept, one per word).
    func preTokenize(_ text: String) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !current.isEmpty { words.append(current); current = [] }
            } else if Self.isPunctuation(scalar) {
                if !current.isEmpty { words.append(current); current = [] }
                words.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    // MARK: WordPiece

    /// Greedy longest-match-first; a word with no full segmentation, or longer than 100 scalars,
    /// is one `[UNK]`.
    func appendWordPieces(of word: [Unicode.Scalar], to ids: inout [Int32]) {
        guard word.count <= Self.maxCharsPerWord else {
            ids.append(unk)
            return
        }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var match: Int32?
            while start < end {
                var candidate = String(String.UnicodeScalarView(word[start..<end]))
                if start > 0 { candidate = "##" + candidate }
                if let id = vocabulary[candidate] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.append(unk)
                return
            }
            pieces.append(match)
            start = end
        }
        ids.append(contentsOf: pieces)
    }

    // MARK: Character classes, as HF tokenizers defines them

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "\t", "\n", "\r": return true
        default: return scalar.properties.isWhitespace
        }
    }

    /// Categories C* except the whitespace controls, which count as whitespace.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    /// ASCII symbol ranges (BERT counts `$`, `+`, `^`, … as punctuation) and Unicode P* categories.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
