import Foundation

/// Texts → normalised 384-d vectors: the tokenizer and an encoder backend behind one seam. `--cpu`
/// runs `MiniLMEncoder` (OpenBLAS, one forward pass per core); `--gpu` runs `MiniLMDeviceEncoder` on
/// a CUDA device, with no CPU fallback. The same device encoder on `HostDevice` is what the tests
/// compare with the CPU path.
public struct SentenceEmbedder: Sendable {
    public let tokenizer: WordPieceTokenizer
    public let device: ComputeDevice
    private let backend: Backend
    public let dimension: Int

    private enum Backend: Sendable {
        case cpu(MiniLMEncoder)
        case tensor(MiniLMDeviceEncoder)
    }

    /// Loads the model. `.gpu` opens the CUDA device (`CUDADevice.open`) and uploads the weights:
    /// it fails here, before any work, when no usable device exists. `threads` caps the CPU threads
    /// (the forward passes on `.cpu`, the tokenizing on both; default: one per core).
    ///
    /// - Throws: `GPUUnavailable` for `.gpu` without a usable device, `DeviceError` when the device
    ///   fails, `ModelError` for a missing or invalid model.
    public init(modelDirectory: String, device: ComputeDevice, threads: Int? = nil, precision: GEMMPrecision = .fp32) throws {
        if device == .gpu { try GPUStages.require([.embeddings]) }
        let files = try ModelFiles(directory: modelDirectory)
        let weights = try MiniLMWeights(files: files)
        let workers = threads ?? ProcessInfo.processInfo.activeProcessorCount
        switch device {
        case .cpu:
            try self.init(files: files, device: .cpu, backend: .cpu(MiniLMEncoder(weights: weights, workers: workers)), workers: workers)
        case .gpu:
            let cuda = try CUDADevice.open(precision: precision)
            try self.init(files: files, device: .gpu, backend: .tensor(MiniLMDeviceEncoder(weights: weights, device: cuda)), workers: workers)
        }
    }

    /// The device encoder on any `TensorDevice` (`HostDevice` in tests), with `limits` for its batches.
    ///
    /// - Throws: `ModelError`, `DeviceError`.
    public init(modelDirectory: String, on tensorDevice: TensorDevice, limits: MiniLMDeviceEncoder.BatchLimits? = nil,
                threads: Int? = nil) throws {
        let files = try ModelFiles(directory: modelDirectory)
        let encoder = try MiniLMDeviceEncoder(weights: MiniLMWeights(files: files), device: tensorDevice, limits: limits)
        try self.init(files: files, device: .gpu, backend: .tensor(encoder), workers: threads ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    private init(files: ModelFiles, device: ComputeDevice, backend: Backend, workers: Int) throws {
        tokenizer = try WordPieceTokenizer(vocabularyFile: files.vocabularyPath, maxLength: files.maxSequenceLength)
        self.device = device
        self.backend = backend
        self.workers = max(1, workers)
        dimension = files.hiddenSize
    }

    /// CPU threads: the forward passes side by side on `.cpu`, the tokenizing on both.
    public let workers: Int

    /// What ran the forward passes, for the log: `cpu (2 threads)` or the device's name.
    public var deviceDescription: String {
        switch backend {
        case .cpu: "cpu (\(workers) threads)"
        case .tensor(let encoder): encoder.device.name
        }
    }

    /// The embeddings stage's `device=` marker: `cpu`, or `cuda` on a CUDA device.
    public var marker: String {
        switch backend {
        case .cpu: "cpu"
        case .tensor(let encoder): encoder.device.embeddingsMarker
        }
    }

    /// Texts per call that keep the backend busy: on the CPU 32 texts (~3,000 token rows) per worker,
    /// at least 64; on a device enough for several full length-sorted batches. The embedding stage
    /// reads and commits pages of this size unless told otherwise.
    public var preferredBatchSize: Int {
        switch backend {
        case .cpu: max(64, 32 * workers)
        case .tensor(let encoder): max(1_024, encoder.limits.rows / 8)
        }
    }

    /// Texts per tokenized chunk on a device: the next chunk is tokenized while the device runs this one.
    static let deviceChunk = 4_096

    /// Tokenizes on every worker (shares split by UTF-8 length), then encodes. On a device, chunk
    /// n + 1 is tokenized on the CPU threads while the device encodes chunk n.
    ///
    /// - Throws: `DeviceError` when the device fails (no CPU fallback).
    public func embed(_ texts: [String]) throws -> [[Float]] {
        switch backend {
        case .cpu(let encoder):
            return encoder.embed(tokenize(texts[...]))
        case .tensor(let encoder):
            let chunks = stride(from: 0, to: texts.count, by: Self.deviceChunk).map { $0..<min($0 + Self.deviceChunk, texts.count) }
            var vectors: [[Float]] = []
            vectors.reserveCapacity(texts.count)
            var current = chunks.first.map { tokenize(texts[$0]) } ?? []
            for index in chunks.indices {
                let next = TokenizedChunk()
                let group = DispatchGroup()
                if index + 1 < chunks.count {
                    let range = chunks[index + 1]
                    DispatchQueue.global().async(group: group) { next.ids = tokenize(texts[range]) }
                }
                let encoded = Result { try encoder.embed(current) }
                group.wait()
                vectors += try encoded.get()
                current = next.ids
            }
            return vectors
        }
    }

    public func embed(tokenIDs: [[Int32]]) throws -> [[Float]] {
        switch backend {
        case .cpu(let encoder): encoder.embed(tokenIDs)
        case .tensor(let encoder): try encoder.embed(tokenIDs)
        }
    }

    private func tokenize(_ texts: ArraySlice<String>) -> [[Int32]] {
        let tokenizer = tokenizer, base = texts.startIndex
        let shares = MiniLMEncoder.balancedGroups(texts.map(\.utf8.count), count: workers)
        return MiniLMEncoder.perGroup(shares) { share in texts[(base + share.lowerBound)..<(base + share.upperBound)].map(tokenizer.encode) }
            .flatMap { $0 }
    }
}

/// The token ids one background tokenizing pass hands to the next device pass.
private final class TokenizedChunk: @unchecked Sendable {
    var ids: [[Int32]] = []
}
