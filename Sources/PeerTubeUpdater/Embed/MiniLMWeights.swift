import Foundation

/// all-MiniLM-L6-v2's weights as float32 arrays in torch's layouts ([out × in] for linear layers),
/// loaded once from `model.safetensors`; the CPU encoder computes from them, the device encoder
/// uploads them.
public struct MiniLMWeights: Sendable {
    public struct Layer: Sendable {
        var qkvWeight: [Float], qkvBias: [Float]        // query, key and value stacked: [3H × H]
        var outWeight: [Float], outBias: [Float]        // [H × H]
        var attentionNormWeight: [Float], attentionNormBias: [Float]
        var interWeight: [Float], interBias: [Float]    // [I × H]
        var ffnOutWeight: [Float], ffnOutBias: [Float]  // [H × I]
        var outputNormWeight: [Float], outputNormBias: [Float]
    }

    public let files: ModelFiles
    let hidden: Int, heads: Int, headSize: Int, intermediate: Int, eps: Float
    let wordEmbeddings: [Float], positionEmbeddings: [Float], tokenTypeEmbeddings: [Float]
    let embeddingNormWeight: [Float], embeddingNormBias: [Float]
    let layers: [Layer]

    /// - Throws: `ModelError` when a weight tensor is missing or of the wrong shape.
    public init(files: ModelFiles) throws {
        self.files = files
        hidden = files.hiddenSize
        heads = files.heads
        headSize = files.hiddenSize / files.heads
        intermediate = files.intermediateSize
        eps = files.layerNormEps
        let weights = try SafeTensors(path: files.weightsPath)
        let h = hidden, i = intermediate
        wordEmbeddings = try weights.floats("embeddings.word_embeddings.weight", shape: [files.vocabularySize, h])
        positionEmbeddings = try weights.floats("embeddings.position_embeddings.weight", shape: [files.maxPositions, h])
        tokenTypeEmbeddings = try weights.floats("embeddings.token_type_embeddings.weight", shape: [2, h])
        embeddingNormWeight = try weights.floats("embeddings.LayerNorm.weight", shape: [h])
        embeddingNormBias = try weights.floats("embeddings.LayerNorm.bias", shape: [h])
        layers = try (0..<files.layers).map { index in
            let p = "encoder.layer.\(index)."
            func w(_ name: String, _ shape: [Int]) throws -> [Float] { try weights.floats(p + name, shape: shape) }
            return Layer(
                qkvWeight: try w("attention.self.query.weight", [h, h]) + w("attention.self.key.weight", [h, h])
                    + w("attention.self.value.weight", [h, h]),
                qkvBias: try w("attention.self.query.bias", [h]) + w("attention.self.key.bias", [h]) + w("attention.self.value.bias", [h]),
                outWeight: try w("attention.output.dense.weight", [h, h]), outBias: try w("attention.output.dense.bias", [h]),
                attentionNormWeight: try w("attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try w("attention.output.LayerNorm.bias", [h]),
                interWeight: try w("intermediate.dense.weight", [i, h]), interBias: try w("intermediate.dense.bias", [i]),
                ffnOutWeight: try w("output.dense.weight", [h, i]), ffnOutBias: try w("output.dense.bias", [h]),
                outputNormWeight: try w("output.LayerNorm.weight", [h]), outputNormBias: try w("output.LayerNorm.bias", [h]))
        }
    }
}
