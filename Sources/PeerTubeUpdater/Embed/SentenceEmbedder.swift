import Foundation

/// Texts → normalised 384-d vectors: the tokenizer and an encoder backend behind one seam, so a
/// CUDA backend can take the CPU's place without the embedding stage knowing.
public struct SentenceEmbedder: Sendable {
    public let tokenizer: WordPieceTokenizer
    public let device: ComputeDevice
    private let encoder: MiniLMEncoder
    public var dimension: Int { encoder.files.hiddenSize }

    /// Loads the model. `.cuda` fails here, before any work, when no usable CUDA device exists:
    /// there is no CPU fallback. `threads` caps the forward passes run side by side (default: one
    /// per core).
    ///
    /// - Throws: `GPUUnavailable` for `.gpu` without a usable device, `ModelError` for a missing or invalid
    ///   model.
    public init(modelDirectory: String, device: ComputeDevice, threads: Int? = nil) throws {
        if device == .gpu { try GPUStages.require([.embeddings]) }
        let files = try ModelFiles(directory: modelDirectory)
        tokenizer = try WordPieceTokenizer(vocabularyFile: files.vocabularyPath, maxLength: files.maxSequenceLength)
        encoder = try MiniLMEncoder(files: files, workers: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.device = device
    }

    /// Forward passes run side by side (`threads`, else one per core).
    public var workers: Int { encoder.workers }

    /// Texts per call that keep every worker's GEMMs large: 32 texts (~3,000 token rows) per worker,
    /// at least 64. The embedding stage reads and commits pages of this size unless told otherwise.
    public var preferredBatchSize: Int { max(64, 32 * workers) }

    /// Tokenizes on every worker (shares split by UTF-8 length), then encodes: tokenizing is no
    /// serial step in front of the parallel forward passes.
    public func embed(_ texts: [String]) -> [[Float]] {
        let tokenizer = tokenizer
        let shares = MiniLMEncoder.balancedGroups(texts.map(\.utf8.count), count: workers)
        return encoder.embed(MiniLMEncoder.perGroup(shares) { texts[$0].map(tokenizer.encode) }.flatMap { $0 })
    }

    public func embed(tokenIDs: [[Int32]]) -> [[Float]] {
        encoder.embed(tokenIDs)
    }
}
