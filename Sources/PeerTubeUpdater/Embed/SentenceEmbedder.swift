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

    public func embed(_ texts: [String]) -> [[Float]] {
        encoder.embed(texts.map(tokenizer.encode))
    }

    public func embed(tokenIDs: [[Int32]]) -> [[Float]] {
        encoder.embed(tokenIDs)
    }
}
