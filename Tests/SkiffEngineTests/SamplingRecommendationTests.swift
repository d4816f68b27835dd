import GGUFTestSupport
import SkiffEngine
import SkiffModelFile
import SkiffGGUF
import Testing

/// The sampling settings a model file recommends, and the order in which settings apply.
@Suite struct SamplingRecommendationTests {
    static func recommendation(_ entries: [(String, GGUFValue)]) throws -> SamplingRecommendation {
        var file = GGUFBuilder()
        file.entries = [("general.architecture", .string("llama"))] + entries
        return try SamplingRecommendation(metadata: file.metadata())
    }

    @Test func aFileWithoutRecommendationsLeavesLlamaCppsDefaults() throws {
        let none = try Self.recommendation([])
        #expect(none.settings == SamplingOverrides())
        #expect(none.notApplied.isEmpty)
        #expect(none.defaults(overriddenBy: SamplingOverrides()) == .llamaCppDefaults)
    }

    @Test func theFilesSettingsComeBeforeLlamaCppsAndTheServersBeforeBoth() throws {
        let recommended = try Self.recommendation([
            ("general.sampling.temp", .float32(0.6)), ("general.sampling.top_k", .int32(20)),
            ("general.sampling.top_p", .float64(0.9)), ("general.sampling.penalty_repeat", .float32(1.1)),
            ("general.sampling.mirostat", .int32(0)),
        ])
        #expect(recommended.settings == SamplingOverrides(temperature: 0.6, topK: 20, topP: 0.9))
        #expect(recommended.notApplied.map(\.key) == ["general.sampling.penalty_repeat", "general.sampling.mirostat"])
        let defaults = recommended.defaults(overriddenBy: SamplingOverrides(temperature: 0))
        #expect(defaults == SamplingParameters(temperature: 0, topK: 20, topP: 0.9, minP: 0.05))
    }

    @Test func aTopKOfZeroOrLessDisablesIt() throws {
        #expect(try Self.recommendation([("general.sampling.top_k", .int32(-1))]).settings.topK == 0)
    }

    @Test(arguments: [
        ("general.sampling.temp", GGUFValue.float32(-1), "GGUF key 'general.sampling.temp' is -1.0; it must be between 0 and 2"),
        ("general.sampling.top_p", .float32(2), "GGUF key 'general.sampling.top_p' is 2.0; it must be in (0, 1]"),
        ("general.sampling.min_p", .float32(.nan), "GGUF key 'general.sampling.min_p' is nan; it must be a finite number"),
        ("general.sampling.top_k", .string("forty"), #"GGUF key 'general.sampling.top_k' is "forty"; it must be a finite number"#),
    ])
    func aRecommendationOutOfRangeNamesItsKeyAndValue(key: String, value: GGUFValue, message: String) throws {
        let error = #expect(throws: ModelFileError.self) { try Self.recommendation([(key, value)]) }
        #expect(error?.message == message)
    }
}
