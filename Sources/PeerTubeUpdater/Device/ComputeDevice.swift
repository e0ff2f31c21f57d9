/// Where the compute stages run: the embeddings and the ANN build. One type for the choice, from the
/// command line (`--cpu` / `--gpu`) through the worker's options to each stage and its log markers.
public enum ComputeDevice: String, Sendable, CaseIterable, Codable {
    case cpu, gpu

    /// The embeddings stage's marker value in `worker.log`: `device=cpu` or `device=cuda`.
    public var embeddingsMarker: String { self == .cpu ? "cpu" : "cuda" }

    /// The ANN stage's marker value in `worker.log`: `mode=cpu` or `mode=gpu`.
    public var annMarker: String { rawValue }

    /// The device whose markers are `embeddings` (`device=`) and `ann` (`mode=`), if they agree on one.
    public init?(embeddingsMarker: String?, annMarker: String?) {
        guard let match = Self.allCases.first(where: { $0.embeddingsMarker == embeddingsMarker && $0.annMarker == annMarker }) else { return nil }
        self = match
    }
}
