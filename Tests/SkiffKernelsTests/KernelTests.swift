import CSkiffKernels
import GGUFTestSupport
import Foundation
import Testing

/// Instruction sets this machine can run, each tested separately.
let availableISAs: [skiff_isa] = {
    let best = skiff_detect_isa()
    return [SKIFF_ISA_PORTABLE, SKIFF_ISA_AVX2, SKIFF_ISA_AVX512_VNNI].filter { $0.rawValue <= best.rawValue }
}()

/// Packed weights with their storage kept alive.
final class PackedWeights {
    var matrix = skiff_packed_matrix()
    let storage: UnsafeMutableRawPointer

    init?(type: skiff_type, data: [UInt8], rows: Int, columns: Int) {
        let bytes = skiff_packed_bytes(type, Int64(rows), Int64(columns))
        guard bytes > 0 else { return nil }
        storage = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let status = data.withUnsafeBytes {
            skiff_pack_matrix(type, $0.baseAddress, Int64(rows), Int64(columns), storage, &matrix)
        }
        guard status == 0 else { return nil }
    }

    deinit { storage.deallocate() }
}

/// Activations quantized by the kernels, with buffers kept alive.
final class QuantizedActivations {
    var values: [Int8]
    var scales: [Float]
    var sums: [Float]
    var halfSums: [Int16]
    let tokens: Int
    let columns: Int

    init(_ x: [Float], tokens: Int, columns: Int, pool: OpaquePointer?) {
        self.tokens = tokens
        self.columns = columns
        values = Array(repeating: 0, count: tokens * columns)
        scales = Array(repeating: 0, count: tokens * columns / 32)
        sums = scales
        halfSums = Array(repeating: 0, count: tokens * columns / 16)
        withActivations { q in
            x.withUnsafeBufferPointer { skiff_quantize_activations(pool, $0.baseAddress, Int64(columns), &q) }
        }
    }

    func withActivations<R>(_ body: (inout skiff_q8_activations) -> R) -> R {
        values.withUnsafeMutableBufferPointer { v in
            scales.withUnsafeMutableBufferPointer { s in
                sums.withUnsafeMutableBufferPointer { m in
                    halfSums.withUnsafeMutableBufferPointer { h in
                        var q = skiff_q8_activations(values: v.baseAddress, scales: s.baseAddress, sums: m.baseAddress,
                                                     half_sums: h.baseAddress, tokens: Int64(tokens), columns: Int64(columns))
                        return body(&q)
                    }
                }
            }
        }
    }

    /// The activations the integer kernels actually see, as floats.
    var dequantized: [Float] {
        (0 ..< tokens * columns).map { i in Float(values[i]) * scales[i / 32] }
    }
}

/// Activation quantization gives the same bytes on every instruction set, on values that round both
/// ways at exact halves, on zero blocks and on very small and very large magnitudes.
@Suite(.serialized) struct QuantizeActivationsTests {
    @Test func everyISAQuantizesBitForBit() {
        var rng = SplitMix64(state: 99)
        let columns = 256, tokens = 5
        var x = (0 ..< tokens * columns).map { _ in Float.random(in: -3 ... 3, using: &rng) }
        // A block whose maximum is 127, so x * 127 / amax lands on exact halves: ties to even.
        for j in 0 ..< 32 { x[j] = j == 0 ? 127 : (j.isMultiple(of: 2) ? 1 : -1) * (Float(j) + 0.5) }
        for j in 32 ..< 64 { x[j] = 0 }
        for j in 64 ..< 96 { x[j] = Float(j - 80) * 1e-30 }
        for j in 96 ..< 128 { x[j] = Float(j - 112) * 1e30 }
        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool); skiff_set_isa(skiff_detect_isa()) }
        skiff_set_isa(SKIFF_ISA_PORTABLE)
        let reference = QuantizedActivations(x, tokens: tokens, columns: columns, pool: pool)
        #expect(Array(reference.values[0 ..< 5]) == [127, -2, 2, -4, 4])
        let halfSums = (0 ..< tokens * columns / 16).map { h in Int16(reference.values[16 * h ..< 16 * h + 16].reduce(0) { $0 + Int($1) }) }
        #expect(reference.halfSums == halfSums)
        for isa in availableISAs {
            skiff_set_isa(isa)
            let q = QuantizedActivations(x, tokens: tokens, columns: columns, pool: pool)
            #expect(q.values == reference.values, "isa \(isa.rawValue)")
            #expect(q.scales == reference.scales, "isa \(isa.rawValue)")
            #expect(q.sums == reference.sums, "isa \(isa.rawValue)")
            #expect(q.halfSums == reference.halfSums, "isa \(isa.rawValue)")
        }
    }
}

@Suite(.serialized) struct MatmulTests {
    static let types: [skiff_type] = [SKIFF_TYPE_Q4_1, SKIFF_TYPE_Q4_0, SKIFF_TYPE_Q8_0, SKIFF_TYPE_F16,
                                      SKIFF_TYPE_F32, SKIFF_TYPE_BF16, SKIFF_TYPE_Q5_0, SKIFF_TYPE_Q5_1,
                                      SKIFF_TYPE_IQ4_NL, SKIFF_TYPE_Q2_K, SKIFF_TYPE_Q3_K, SKIFF_TYPE_Q4_K,
                                      SKIFF_TYPE_Q5_K, SKIFF_TYPE_Q6_K, SKIFF_TYPE_IQ4_XS]

    /// Odd shapes for `type`: rows not a multiple of the tile, rows of one and of several blocks.
    static func shapes(_ type: skiff_type) -> [(rows: Int, columns: Int)] {
        hasSuperBlocks(type) ? [(40, 256), (16, 512), (3, 256), (130, 768)] : [(40, 96), (16, 32), (3, 64), (130, 256)]
    }

    /// Every ISA, every type, odd shapes and token counts: the kernel equals the dequantized reference.
    @Test(arguments: types)
    func matchesReference(type: skiff_type) throws {
        var rng = SplitMix64(state: UInt64(type.rawValue) + 7)
        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool); skiff_set_isa(skiff_detect_isa()) }
        for (rows, columns) in Self.shapes(type) {
            let data = randomRows(type, rows: rows, columns: columns, using: &rng)
            let weights = try #require(PackedWeights(type: type, data: data, rows: rows, columns: columns))
            for tokens in [1, 3, 8, 13] {
                let x = (0 ..< tokens * columns).map { _ in Float.random(in: -2 ... 2, using: &rng) }
                let isFloat = type == SKIFF_TYPE_F16 || type == SKIFF_TYPE_F32 || type == SKIFF_TYPE_BF16
                let q = QuantizedActivations(x, tokens: tokens, columns: columns, pool: pool)
                let seen = isFloat ? x : q.dequantized
                var expected = [Float](repeating: 0, count: tokens * rows)
                data.withUnsafeBytes { w in
                    skiff_matmul_reference(type, w.baseAddress, Int64(rows), Int64(columns), seen, Int64(tokens), &expected)
                }
                for isa in availableISAs {
                    skiff_set_isa(isa)
                    for accumulate in [false, true] {
                        var y = [Float](repeating: accumulate ? 1 : -7, count: tokens * rows)
                        q.withActivations { qa in
                            x.withUnsafeBufferPointer { xf in
                                skiff_matmul(pool, &weights.matrix, &qa, xf.baseAddress, Int64(columns), Int64(tokens),
                                             &y, Int64(rows), accumulate ? 1 : 0)
                            }
                        }
                        let offset: Float = accumulate ? 1 : 0
                        let scale = expected.map(abs).max() ?? 1
                        let worst = zip(y, expected).map { abs($0 - offset - $1) }.max() ?? 0
                        #expect(worst <= 1e-4 * max(scale, 1), "type \(type.rawValue) isa \(isa.rawValue) \(rows)x\(columns) tokens \(tokens) accumulate \(accumulate): error \(worst)")
                    }
                }
            }
        }
    }

    /// Quantizing activations loses little: the integer product stays close to the float product.
    @Test func quantizedActivationsStayClose() throws {
        var rng = SplitMix64(state: 99)
        let (rows, columns, tokens) = (32, 128, 4)
        let data = randomRows(SKIFF_TYPE_Q4_1, rows: rows, columns: columns, using: &rng)
        let x = (0 ..< tokens * columns).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        var exact = [Float](repeating: 0, count: tokens * rows)
        data.withUnsafeBytes { skiff_matmul_reference(SKIFF_TYPE_Q4_1, $0.baseAddress, Int64(rows), Int64(columns), x, Int64(tokens), &exact) }
        let q = QuantizedActivations(x, tokens: tokens, columns: columns, pool: nil)
        var approx = [Float](repeating: 0, count: tokens * rows)
        data.withUnsafeBytes { skiff_matmul_reference(SKIFF_TYPE_Q4_1, $0.baseAddress, Int64(rows), Int64(columns), q.dequantized, Int64(tokens), &approx) }
        let scale = exact.map(abs).max() ?? 1
        let worst = zip(exact, approx).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 0.02 * scale)
    }

    @Test func rejectsUnsupportedShapes() {
        #expect(skiff_packed_bytes(SKIFF_TYPE_Q4_1, 16, 48) == 0)
        #expect(skiff_packed_bytes(SKIFF_TYPE_Q8_0, 0, 32) == 0)
        #expect(skiff_packed_bytes(skiff_type(rawValue: 16), 16, 256) == 0)   // IQ2_XXS
        #expect(skiff_packed_bytes(SKIFF_TYPE_Q4_K, 16, 128) == 0)
        #expect(skiff_packed_bytes(SKIFF_TYPE_Q4_K, 16, 256) == 2368)
        #expect(skiff_packed_bytes(SKIFF_TYPE_Q4_1, 17, 64) == 2 * 2 * 320)
    }

    /// Dequantization follows the GGUF block layouts (low nibbles are elements 0-15).
    @Test func dequantizesKnownBlocks() {
        // Q4_1: d = 0.5, m = -1, byte j holds (j & 15) low and 15 - (j & 15) high.
        var block: [UInt8] = [0x00, 0x38, 0x00, 0xBC]
        for j in 0 ..< 16 { block.append(UInt8(j) | UInt8(15 - j) << 4) }
        var out = [Float](repeating: 0, count: 32)
        skiff_dequantize_row(SKIFF_TYPE_Q4_1, block, &out, 32)
        #expect(out[0] == -1 && out[1] == -0.5 && out[15] == 6.5)
        #expect(out[16] == 6.5 && out[31] == -1)
        // Q8_0: d = 0.25.
        var q8: [UInt8] = [0x00, 0x34]
        for j in 0 ..< 32 { q8.append(UInt8(bitPattern: Int8(j - 16))) }
        skiff_dequantize_row(SKIFF_TYPE_Q8_0, q8, &out, 32)
        #expect(out[0] == -4 && out[16] == 0 && out[31] == 3.75)
        // Q4_0: d = 2, value = d * (q - 8).
        var q4: [UInt8] = [0x00, 0x40]
        for _ in 0 ..< 16 { q4.append(0xF0) }
        skiff_dequantize_row(SKIFF_TYPE_Q4_0, q4, &out, 32)
        #expect(out[0] == -16 && out[16] == 14)
    }
}

@Suite struct HalfPrecisionTests {
    @Test func roundTripsLikeSwiftFloat16() {
        var rng = SplitMix64(state: 5)
        var values: [Float] = [0, -0, 1, -2.5, 65504, 70000, 1e-8, 6e-8, 3e-5, .infinity, -.infinity]
        for _ in 0 ..< 5000 { values.append(Float.random(in: -70000 ... 70000, using: &rng)) }
        for _ in 0 ..< 5000 { values.append(Float.random(in: -0.001 ... 0.001, using: &rng)) }
        for isa in availableISAs {
            skiff_set_isa(isa)
            var halves = [UInt16](repeating: 0, count: values.count)
            skiff_f32_to_f16(values, &halves, values.count)
            var back = [Float](repeating: 0, count: values.count)
            skiff_f16_to_f32(halves, &back, values.count)
            for (i, v) in values.enumerated() {
                #expect(halves[i] == Float16(v).bitPattern, "\(v) isa \(isa.rawValue)")
                #expect(back[i] == Float(Float16(v)), "\(v) isa \(isa.rawValue)")
            }
        }
        skiff_set_isa(skiff_detect_isa())
    }
}

@Suite struct ThreadPoolTests {
    final class Counter {
        var hits = [Int](repeating: 0, count: 8)
    }

    @Test func runsEveryThreadOncePerRun() {
        let pool = skiff_pool_create(3)
        defer { skiff_pool_destroy(pool) }
        #expect(skiff_pool_thread_count(pool) == 3)
        let counter = Counter()
        let context = Unmanaged.passUnretained(counter).toOpaque()
        for _ in 0 ..< 1000 {
            skiff_pool_run(pool, { context, index, count in
                let counter = Unmanaged<Counter>.fromOpaque(context!).takeUnretainedValue()
                precondition(count == 3)
                counter.hits[Int(index)] += 1
            }, context)
        }
        #expect(counter.hits[0 ..< 3] == [1000, 1000, 1000])
        #expect(counter.hits[3...].allSatisfy { $0 == 0 })
    }
}

@Suite(.serialized) struct AttentionTests {
    /// Paged attention over shuffled blocks equals a naive softmax(qKᵀ)V on the same (half-rounded) data,
    /// over the whole context or over a sliding window of its last `window` positions (whose start falls
    /// inside a 16-position span).
    @Test(arguments: [(3, 1, 64), (9, 3, 64), (4, 4, 32), (16, 1, 128)], [nil, 5, 20])
    func matchesNaiveAttention(shape: (heads: Int, kvHeads: Int, headDim: Int), window: Int?) throws {
        let (heads, kvHeads, headDim) = shape
        var rng = SplitMix64(state: UInt64(heads * 1000 + headDim))
        let blockSize = 16
        let blockCount = 12
        let contexts = [1, 15, 16, 17, 70]
        let keys = UnsafeMutablePointer<UInt16>.allocate(capacity: blockCount * kvHeads * blockSize * headDim)
        let values = UnsafeMutablePointer<UInt16>.allocate(capacity: blockCount * kvHeads * blockSize * headDim)
        defer { keys.deallocate(); values.deallocate() }
        var layer = skiff_kv_layer(keys: keys, values: values, block_size: Int32(blockSize), kv_heads: Int32(kvHeads),
                                   head_dim: Int32(headDim))
        let positions = contexts.max()!
        let table: [Int32] = Array(0 ..< Int32(blockCount)).shuffled(using: &rng)
        var storedK: [[Float]] = []
        var storedV: [[Float]] = []
        for p in 0 ..< positions {
            var k = (0 ..< kvHeads * headDim).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            var v = (0 ..< kvHeads * headDim).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            skiff_kv_store(&layer, table[p / blockSize], Int32(p % blockSize), k, v)
            k = k.map { Float(Float16($0)) }
            v = v.map { Float(Float16($0)) }
            storedK.append(k)
            storedV.append(v)
        }
        let q = (0 ..< contexts.count * heads * headDim).map { _ in Float.random(in: -2 ... 2, using: &rng) }
        let scale = 1 / Float(headDim).squareRoot()
        var expected = [Float](repeating: 0, count: q.count)
        let firsts = contexts.map { n in window.map { max(0, n - $0) } ?? 0 }
        for (t, n) in contexts.enumerated() {
            for h in 0 ..< heads {
                let g = h / (heads / kvHeads)
                let qh = Array(q[(t * heads + h) * headDim ..< (t * heads + h + 1) * headDim])
                let scores = (firsts[t] ..< n).map { p in
                    Double(zip(qh, storedK[p][g * headDim ..< (g + 1) * headDim]).map { $0 * $1 }.reduce(0, +)) * Double(scale)
                }
                let m = scores.max()!
                let weights = scores.map { exp($0 - m) }
                let total = weights.reduce(0, +)
                for i in 0 ..< headDim {
                    var sum = 0.0
                    for (j, p) in (firsts[t] ..< n).enumerated() { sum += weights[j] / total * Double(storedV[p][g * headDim + i]) }
                    expected[(t * heads + h) * headDim + i] = Float(sum)
                }
            }
        }
        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool); skiff_set_isa(skiff_detect_isa()) }
        for isa in availableISAs {
            skiff_set_isa(isa)
            var out = [Float](repeating: .nan, count: q.count)
            let status = table.withUnsafeBufferPointer { tp in
                let queries = zip(contexts, firsts).map {
                    skiff_attention_query(block_table: tp.baseAddress, context_length: Int32($0), first_position: Int32($1))
                }
                return skiff_attention(pool, &layer, queries, Int64(contexts.count), q, Int64(heads), scale, &out)
            }
            #expect(status == 0)
            let worst = zip(out, expected).map { abs($0 - $1) }.max() ?? .nan
            #expect(worst < 1e-4, "isa \(isa.rawValue): error \(worst)")
        }
    }

    @Test func rejectsUnsupportedShapes() {
        var layer = skiff_kv_layer(keys: nil, values: nil, block_size: 8, kv_heads: 1, head_dim: 64)
        var out = [Float](repeating: 0, count: 64)
        #expect(skiff_attention(nil, &layer, nil, 0, nil, 1, 1, &out) == -1)
        layer.block_size = 16
        layer.head_dim = 40
        #expect(skiff_attention(nil, &layer, nil, 0, nil, 1, 1, &out) == -1)
    }
}

@Suite struct TransformerOpsTests {
    @Test func rmsNormMatchesDefinition() {
        var rng = SplitMix64(state: 3)
        let n = 100
        let x = (0 ..< 2 * n).map { _ in Float.random(in: -3 ... 3, using: &rng) }
        let w = (0 ..< n).map { _ in Float.random(in: 0.5 ... 1.5, using: &rng) }
        var out = [Float](repeating: 0, count: 2 * n)
        skiff_rms_norm(x, Int64(n), w, &out, Int64(n), 2, Int64(n), 1e-5)
        for t in 0 ..< 2 {
            let row = x[t * n ..< (t + 1) * n]
            let rms = (row.map { Double($0 * $0) }.reduce(0, +) / Double(n) + 1e-5).squareRoot()
            for i in 0 ..< n {
                #expect(abs(Double(out[t * n + i]) - Double(x[t * n + i]) / rms * Double(w[i])) < 1e-5)
            }
        }
    }

    /// Both pairings rotate the right dims by position × frequency and leave the rest alone.
    @Test(arguments: [0, 1])
    func ropeRotatesPairs(neox: Int32) {
        let headDim = 8, rotary = 6, heads = 2, position: Int64 = 5
        let frequencies: [Float] = [1, 0.1, 0.01]
        let x = (0 ..< heads * headDim).map { Float($0) * 0.25 - 1 }
        var y = x
        skiff_rope(&y, Int64(heads), Int64(headDim), Int64(rotary), position, frequencies, 1, neox)
        for h in 0 ..< heads {
            for i in 0 ..< rotary / 2 {
                let a = h * headDim + (neox == 1 ? i : 2 * i)
                let b = h * headDim + (neox == 1 ? i + rotary / 2 : 2 * i + 1)
                let theta = Float(position) * frequencies[i]
                #expect(abs(y[a] - (x[a] * cos(theta) - x[b] * sin(theta))) < 1e-5)
                #expect(abs(y[b] - (x[a] * sin(theta) + x[b] * cos(theta))) < 1e-5)
            }
            for i in rotary ..< headDim { #expect(y[h * headDim + i] == x[h * headDim + i]) }
        }
    }

    /// SiLU and tanh-GELU gates, on every instruction set, over lengths that are not multiples of the
    /// vector width, on the calling thread (short) and split over the pool (70001), equal their definitions.
    @Test(arguments: [SKIFF_GATE_SILU, SKIFF_GATE_GELU_TANH], [1, 15, 16, 37, 1000, 70001])
    func gatedActivationsMatchTheirDefinitions(activation: skiff_gate, count: Int) {
        var rng = SplitMix64(state: UInt64(count))
        let gate = (0 ..< count).map { _ in Float.random(in: -12 ... 12, using: &rng) }
        let up = (0 ..< count).map { _ in Float.random(in: -2 ... 2, using: &rng) }
        let expected = zip(gate, up).map { g, u -> Double in
            let x = Double(g)
            let act = activation == SKIFF_GATE_SILU
                ? x / (1 + exp(-x))
                : 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
            return act * Double(u)
        }
        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool); skiff_set_isa(skiff_detect_isa()) }
        for isa in availableISAs {
            skiff_set_isa(isa)
            var out = [Float](repeating: .nan, count: count)
            skiff_gated(pool, activation, gate, up, &out, Int64(count))
            let worst = zip(out, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? .nan
            #expect(worst < 1e-5, "isa \(isa.rawValue): error \(worst)")
        }
    }
}

@Suite struct PackedRowTests {
    /// A row read back from the packed layout equals the GGUF row's reference dequantization, bit for bit.
    @Test(arguments: MatmulTests.types)
    func packedRowsDequantizeExactly(type: skiff_type) throws {
        var rng = SplitMix64(state: 77)
        let (rows, columns) = (37, hasSuperBlocks(type) ? 512 : 96)
        let data = randomRows(type, rows: rows, columns: columns, using: &rng)
        let weights = try #require(PackedWeights(type: type, data: data, rows: rows, columns: columns))
        let rowBytes = skiff_row_bytes(type, Int64(columns))
        for row in [0, 15, 16, 36] {
            var expected = [Float](repeating: 0, count: columns)
            var got = [Float](repeating: .nan, count: columns)
            data.withUnsafeBytes { skiff_dequantize_row(type, $0.baseAddress! + row * rowBytes, &expected, Int64(columns)) }
            skiff_packed_row(&weights.matrix, Int64(row), &got)
            #expect(got == expected, "type \(type.rawValue) row \(row)")
        }
    }
}
