import CSkiffKernels
import GGUFTestSupport
import Foundation
import Testing

/// The converter's quantizer (`skiff_quantize_rows`), read back by the reference dequantizer of each type.
@Suite struct WeightQuantizationTests {
    /// `values` as `rows` rows of `type`, on two threads, and read back as floats.
    static func roundTrip(_ values: [Float], _ type: skiff_type, rows: Int) throws -> [Float] {
        let columns = values.count / rows
        let rowBytes = skiff_row_bytes(type, Int64(columns))
        var stored = [UInt8](repeating: 0, count: rowBytes * rows)
        let pool = try #require(skiff_pool_create(2))
        defer { skiff_pool_destroy(pool) }
        let written = stored.withUnsafeMutableBytes { skiff_quantize_rows(pool, type, values, $0.baseAddress, Int64(rows), Int64(columns)) }
        try #require(written == 1)
        var out = [Float](repeating: .nan, count: values.count)
        stored.withUnsafeBytes { raw in
            for r in 0 ..< rows {
                out.withUnsafeMutableBufferPointer { skiff_dequantize_row(type, raw.baseAddress! + r * rowBytes, $0.baseAddress! + r * columns, Int64(columns)) }
            }
        }
        return out
    }

    static func gaussian(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(state: seed)
        return (0 ..< count).map { _ in
            let u = Float.random(in: Float.ulpOfOne ..< 1, using: &rng), v = Float.random(in: 0 ..< 1, using: &rng)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
    }

    @Test func f16AndF32AreExactWherePossible() throws {
        let values = Self.gaussian(3 * 64, seed: 1)
        #expect(try Self.roundTrip(values, SKIFF_TYPE_F32, rows: 3) == values)
        #expect(try Self.roundTrip(values, SKIFF_TYPE_F16, rows: 3) == values.map { Float(Float16($0)) })
    }

    /// Each block's largest magnitude lands on ±127 steps of its scale, and every value within half a step.
    @Test func q8_0KeepsEveryValueWithinHalfAStep() throws {
        var values = Self.gaussian(5 * 96, seed: 2)
        values.replaceSubrange(32 ..< 64, with: repeatElement(0, count: 32)) // an all-zero block stays zero
        let back = try Self.roundTrip(values, SKIFF_TYPE_Q8_0, rows: 5)
        for start in stride(from: 0, to: values.count, by: 32) {
            let block = values[start ..< start + 32], amax = block.map(abs).max()!
            let step = Float(Float16(amax / 127))
            for i in block.indices {
                #expect(abs(back[i] - values[i]) <= step / 2 + amax * 1e-3, "element \(i): \(values[i]) came back as \(back[i])")
            }
        }
        #expect(back[32 ..< 64].allSatisfy { $0 == 0 })
    }

    /// Values that Q4_K holds exactly (each sub-block's step and offset whole multiples of the block's two
    /// scales, every level present) come back exactly: the fit finds them and the packing keeps them.
    @Test func q4_KHoldsRepresentableValuesExactly() throws {
        let d: Float = 1.0 / 64, dmin: Float = 1.0 / 128
        var rng = SplitMix64(state: 3)
        var values: [Float] = []
        for block in 0 ..< 4 {
            for k in 0 ..< 8 {
                // Sub-block (k + block) % 8 == 0 holds the block's largest step and offset (63 of each scale).
                let j = (k + block) % 8
                let scale = d * Float(63 - 7 * j), offset = dmin * Float(j == 3 ? 0 : 63 - 5 * j)
                let levels = (0 ..< 32).map { $0 < 16 ? $0 : Int.random(in: 0 ... 15, using: &rng) }.shuffled(using: &rng)
                values += levels.map { scale * Float($0) - offset }
            }
        }
        #expect(try Self.roundTrip(values, SKIFF_TYPE_Q4_K, rows: 2) == values)
    }

    /// On Gaussian weights the error stays near a 4-bit step's rounding error, below 11% of the values' RMS:
    /// 32 samples span about ±2σ, and rounding to 16 levels of that alone costs about 7.7% (the fit gets 7.1%).
    @Test func q4_KErrorOnGaussianWeights() throws {
        let values = Self.gaussian(8 * 512, seed: 4)
        let back = try Self.roundTrip(values, SKIFF_TYPE_Q4_K, rows: 8)
        let error = (zip(values, back).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(values.count)).squareRoot()
        let rms = (values.map { $0 * $0 }.reduce(0, +) / Float(values.count)).squareRoot()
        #expect(error / rms < 0.11, "RMS error \(error) against RMS \(rms)")
    }

    @Test func refusesTypesAndRowsItCannotWrite() throws {
        let pool = try #require(skiff_pool_create(1))
        defer { skiff_pool_destroy(pool) }
        var out = [UInt8](repeating: 0, count: 1024)
        let values = [Float](repeating: 1, count: 128)
        #expect(out.withUnsafeMutableBytes { skiff_quantize_rows(pool, SKIFF_TYPE_Q4_K, values, $0.baseAddress, 1, 128) } == 0)
        #expect(out.withUnsafeMutableBytes { skiff_quantize_rows(pool, SKIFF_TYPE_Q8_0, values, $0.baseAddress, 4, 30) } == 0)
        #expect(out.withUnsafeMutableBytes { skiff_quantize_rows(pool, SKIFF_TYPE_Q6_K, values, $0.baseAddress, 1, 128) } == 0)
        #expect(out.allSatisfy { $0 == 0 })
    }
}
