import SkiffGGUF
import SkiffHyperparameters

extension ModelShape {
    /// Reads the shape of the model in a GGUF file: its metadata and tensor table, without touching the weights.
    public init(ggufPath path: String) throws(SizingError) {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw SizingError(.model, "cannot read the model file \(path): \(error.message)")
        }
        try self.init(gguf: file)
    }

    /// Reads the shape of the model in `file`: its hyper-parameters (`ModelHyperparameters`, the reader the
    /// engine uses too) and its tensor table's counts and types.
    public init(gguf file: GGUFFile) throws(SizingError) {
        let h: ModelHyperparameters
        do {
            h = try ModelHyperparameters(file: file)
        } catch {
            throw SizingError(.model, "cannot size \(file.file.path): \(error.message)")
        }
        var parameters = 0, expertParameters = 0, bytes = 0
        var typeCounts: [GGMLType: Int] = [:]
        for tensor in file.tensors {
            parameters += tensor.elementCount
            bytes += tensor.byteCount
            typeCounts[tensor.type, default: 0] += 1
            if tensor.name.hasSuffix("_exps.weight") { expertParameters += tensor.elementCount }
        }
        var experts: ExpertShape?
        var active = parameters
        if let e = h.experts, expertParameters > 0 {
            experts = ExpertShape(count: e.count, activePerToken: e.usedPerToken, parameterCount: expertParameters)
            active = parameters - expertParameters + expertParameters / e.count * e.usedPerToken
        }
        let stateSpace = h.stateSpace.map {
            StateSpaceShape(layers: $0.layers.count, innerSize: $0.innerSize, stateSize: $0.stateSize,
                            groupCount: $0.groupCount, headCount: $0.headCount, convKernel: $0.convKernel)
        }
        let fileName = String(file.file.path.split(separator: "/").last ?? Substring(file.file.path))
        self.init(
            name: file.metadata.string("general.name") ?? fileName, architecture: h.architecture, contextLength: h.contextLength,
            hiddenSize: h.embeddingLength, layerCount: h.blockCount, headCount: h.attention?.headCount ?? 0,
            kvHeadCount: h.attention?.kvHeadCount ?? 0, keyLength: h.attention?.keyLength ?? 0,
            valueLength: h.attention?.valueLength ?? 0, attentionWindows: h.attention?.windows ?? [], stateSpace: stateSpace,
            experts: experts, parameterCount: parameters, activeParameterCount: active, storedWeightsBytes: bytes,
            storedWeightsTypes: typeCounts.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "),
            storedTensorTypes: Set(typeCounts.keys))
    }
}
