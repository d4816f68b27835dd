import Foundation
import SkiffConvert
import SkiffGGUF
import SkiffModelFile
import Testing

/// Checkpoints the converter must refuse, each with a message that names what is wrong, and no output file.
@Suite(.serialized) struct CheckpointErrorTests {
    /// A fresh `plain` checkpoint, `change` applied to a copy of its config.json, converted; the error.
    static func refusal(_ change: (inout [String: Any], URL) throws -> Void, tokenizer: TokenizerSource? = nil) async throws -> ConvertError? {
        let directory = try await LlambaConversionTests.checkpoint("plain")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configPath)) as? [String: Any])
        try change(&config, directory)
        try JSONSerialization.data(withJSONObject: config).write(to: configPath)
        let output = directory.appendingPathComponent("out.gguf").path
        let error = #expect(throws: ConvertError.self) {
            try CheckpointConverter(directory: directory, tokenizer: tokenizer).write(to: output, type: .q8_0)
        }
        #expect(!FileManager.default.fileExists(atPath: output) && !FileManager.default.fileExists(atPath: output + ".partial"))
        return error
    }

    @Test func anotherArchitecture() async throws {
        let error = try await Self.refusal { config, _ in config["model_type"] = "mamba" }
        #expect(error?.code == .unsupportedModel)
        #expect(error?.message.contains("model_type 'mamba'; skiff convert converts: llamba") == true)
    }

    @Test func aMissingTensor() async throws {
        let error = try await Self.refusal { config, _ in config["n_layer"] = 3 }
        #expect(error?.message.contains("the checkpoint lacks 'backbone.layers.2.input_layernorm.weight'") == true)
    }

    @Test func aTensorOfAnotherShape() async throws {
        let error = try await Self.refusal { config, _ in
            var mlp = config["mlp_cfg"] as! [String: Any]
            mlp["intermediate_size"] = 100
            config["mlp_cfg"] = mlp
        }
        #expect(error?.message == "'backbone.layers.0.mlp.gate_proj.weight' has shape [96, 64]; config.json calls for [100, 64]")
    }

    @Test func aTensorWithNoPlace() async throws {
        let error = try await Self.refusal { config, _ in config["n_layer"] = 1 }
        #expect(error?.message.contains("the checkpoint has 'backbone.layers.1.") == true)
        #expect(error?.message.contains("converting would drop it") == true)
    }

    @Test func aDamagedOrForeignSafetensorsFile() async throws {
        let truncated = try await Self.refusal { _, directory in
            let path = directory.appendingPathComponent("model.safetensors")
            let data = try Data(contentsOf: path)
            try data.prefix(data.count - 100).write(to: path)
        }
        #expect(truncated?.code == .invalidCheckpoint)
        #expect(truncated?.message.contains("does not fit its data_offsets") == true)
        let integers = try await Self.refusal { _, directory in
            let path = directory.appendingPathComponent("model.safetensors")
            var data = try Data(contentsOf: path)
            let range = try #require(data.range(of: Data(#""dtype": "F32""#.utf8)))
            data.replaceSubrange(range, with: Data(#""dtype": "I32""#.utf8))
            try data.write(to: path)
        }
        #expect(integers?.code == .unsupportedTensor)
        #expect(integers?.message.contains("is I32; skiff convert reads F32, F16 and BF16") == true)
    }

    @Test func aMissingOrUnknownTokenizer() async throws {
        let missing = try await Self.refusal { _, directory in
            try FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer.json"))
        }
        #expect(missing?.code == .unsupportedTokenizer)
        #expect(missing?.message.contains("tokenizer.json is missing or unreadable") == true)
        let unknown = try await Self.refusal { _, directory in
            let path = directory.appendingPathComponent("tokenizer.json")
            let text = try String(contentsOf: path, encoding: .utf8).replacingOccurrences(of: #"\\p{N}{1,3}"#, with: #"\\p{N}{1,4}"#)
            try text.write(to: path, atomically: true, encoding: .utf8)
        }
        #expect(unknown?.message.contains("splits by a pattern Skiff does not run") == true)
    }

    /// A checkpoint without a tokenizer of its own (as Cartesia publishes Llamba) takes another model's.
    @Test func theTokenizerOfAGGUFFile() async throws {
        let donor = try await LlambaConversionTests.checkpoint("plain")
        let directory = try await LlambaConversionTests.checkpoint("plain")
        defer {
            try? FileManager.default.removeItem(at: donor)
            try? FileManager.default.removeItem(at: directory)
        }
        let donorFile = donor.appendingPathComponent("donor.gguf").path
        try CheckpointConverter(directory: donor).write(to: donorFile, type: .f16)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer.json"))
        let output = directory.appendingPathComponent("model.gguf").path
        try CheckpointConverter(directory: directory, tokenizer: .gguf(donorFile)).write(to: output, type: .q8_0)
        let copied = try LoadedModel(path: output), original = try LoadedModel(path: donorFile)
        #expect(copied.tokenizer.encode("hello world") == original.tokenizer.encode("hello world"))
        #expect(try GGUFFile(path: output).metadata.string("tokenizer.chat_template") != nil)
    }
}
