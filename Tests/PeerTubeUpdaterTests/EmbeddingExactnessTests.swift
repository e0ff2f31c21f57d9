import Foundation
import Testing
@testable import PeerTubeUpdater

/// Our tokenizer and encoder against the independent reference (`../shared/tools/minilm_ref.py`:
/// HF tokenizers + a float64 numpy forward pass), on the committed texts of TestResources/embeddings.
@Suite struct EmbeddingExactnessTests {
    static let texts: [String] = try! JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: testResource("embeddings/texts.json"))))
    static let referenceIDs: [[Int32]] = try! JSONDecoder().decode([[Int32]].self, from: Data(contentsOf: URL(fileURLWithPath: testResource("embeddings/ref-token-ids.json"))))
    static let referenceVectors: [[Float]] = {
        let floats = EmbeddingBlob.decode(try! Data(contentsOf: URL(fileURLWithPath: testResource("embeddings/ref-vectors.f32"))))
        return stride(from: 0, to: floats.count, by: 384).map { Array(floats[$0..<($0 + 384)]) }
    }()

    @Test func theReferenceDataIsComplete() {
        #expect(Self.texts.count >= 250)
        #expect(Self.referenceIDs.count == Self.texts.count && Self.referenceVectors.count == Self.texts.count)
        #expect(Self.referenceIDs.contains { $0.count == 256 })  // truncation is exercised
    }

    @Test func tokenIDsAreIdenticalForEveryText() throws {
        let embedder = try InstalledModel.embedder.get()
        var mismatches: [String] = []
        for (text, expected) in zip(Self.texts, Self.referenceIDs) {
            let got = embedder.tokenizer.encode(text)
            if got != expected { mismatches.append("\(text.debugDescription.prefix(80)): got \(got.prefix(12))…, expected \(expected.prefix(12))…") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) texts differ:\n\(mismatches.prefix(10).joined(separator: "\n"))")
    }

    @Test func vectorsMatchTheReference() throws {
        let embedder = try InstalledModel.embedder.get()
        let vectors = try embedder.embed(tokenIDs: Self.referenceIDs)
        var worstCosine: Float = 1, worstDiff: Float = 0
        for (got, expected) in zip(vectors, Self.referenceVectors) {
            let cosine = zip(got, expected).reduce(0) { $0 + $1.0 * $1.1 }
            let diff = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
            worstCosine = min(worstCosine, cosine)
            worstDiff = max(worstDiff, diff)
        }
        #expect(worstCosine >= 0.9999, "worst cosine \(worstCosine)")
        #expect(worstDiff <= 2e-4, "worst max |diff| \(worstDiff)")
    }

    /// The softmax's eight-lane exp against glibc's expf, over the range attention scores take.
    @Test func theVectorExpMatchesExpf() {
        var worst: Float = 0
        for i in stride(from: -90_000, through: 10_000, by: 8) {
            let x = SIMD8<Float>((0..<8).map { Float(i + $0) / 1000 })
            let got = MiniLMEncoder.exp8(x)
            for lane in 0..<8 where expf(x[lane]) > Float.leastNormalMagnitude {
                worst = max(worst, abs(got[lane] - expf(x[lane])) / expf(x[lane]))
            }
        }
        #expect(worst < 1e-6, "worst relative error \(worst)")
    }

    /// `--threads 1`: one forward pass at a time, the same vectors as one per core; 7 threads (more than
    /// the cores here) tokenize and encode 24 texts in 7 shares each, and every vector keeps its text's place.
    @Test func aThreadCountDoesNotChangeVectors() throws {
        let sample = Array(Self.texts.prefix(24))
        let reference = try InstalledModel.embedder.get().embed(sample)
        for threads in [1, 7] {
            let embedder = try SentenceEmbedder(modelDirectory: InstalledModel.directory, device: .cpu, threads: threads)
            #expect(embedder.workers == threads)
            #expect(embedder.preferredBatchSize == max(64, 32 * threads))
            let vectors = try embedder.embed(sample)
            #expect(vectors.count == sample.count)
            for (index, (mine, all)) in zip(vectors, reference).enumerated() {
                #expect(zip(mine, all).allSatisfy { abs($0 - $1) < 1e-5 }, "text \(index) with \(threads) threads")
            }
        }
    }

    @Test func batchingDoesNotChangeVectors() throws {
        let embedder = try InstalledModel.embedder.get()
        let sample = Array(Self.texts.prefix(12))
        let together = try embedder.embed(sample)
        for (text, vector) in zip(sample, together) {
            let alone = try embedder.embed([text])[0]
            #expect(zip(alone, vector).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }
}
