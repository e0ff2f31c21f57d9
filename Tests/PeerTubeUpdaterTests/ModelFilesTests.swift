import Foundation
import SmokeHarness
import Testing
@testable import PeerTubeUpdater

@Suite struct ModelFilesTests {
    private func copyOfModel(in dir: TempDir) throws -> String {
        let copy = dir.path("model")
        try FileManager.default.copyItem(atPath: InstalledModel.directory, toPath: copy)
        return copy
    }

    @Test func aMissingModelNamesMakeModel() {
        let error = #expect(throws: ModelError.self) { try SentenceEmbedder(modelDirectory: "/nonexistent/model", device: .cpu) }
        #expect(error.flatMap(Remedy.advice(for:))?.contains("make model") == true)
    }

    @Test func aTruncatedWeightsFileIsRefused() throws {
        let dir = try TempDir()
        let copy = try copyOfModel(in: dir)
        let weights = try Data(contentsOf: URL(fileURLWithPath: copy + "/model.safetensors"))
        try weights.prefix(1_000_000).write(to: URL(fileURLWithPath: copy + "/model.safetensors"))
        let error = #expect(throws: ModelError.self) { try SentenceEmbedder(modelDirectory: copy, device: .cpu) }
        #expect(error?.description.contains("truncated") == true, "\(String(describing: error))")
        #expect(error.flatMap(Remedy.advice(for:))?.contains("make model") == true)
    }

    @Test func aWrongShapeIsRefused() throws {
        let dir = try TempDir()
        let copy = try copyOfModel(in: dir)
        // A config that promises a wider model than the weights hold.
        let config = try String(contentsOfFile: copy + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"intermediate_size\": 1536", with: "\"intermediate_size\": 2048")
        try config.write(toFile: copy + "/config.json", atomically: true, encoding: .utf8)
        let error = #expect(throws: ModelError.self) { try SentenceEmbedder(modelDirectory: copy, device: .cpu) }
        #expect(error?.description.contains("expected F32 [2048, 384]") == true, "\(String(describing: error))")
    }

    @Test func gpuWithoutCUDAFailsBeforeAnyWork() {
        let error = #expect(throws: GPUUnavailable.self) { try SentenceEmbedder(modelDirectory: "/nonexistent", device: .gpu) }
        #expect(error?.description.contains("no CPU fallback") == true)
    }
}
