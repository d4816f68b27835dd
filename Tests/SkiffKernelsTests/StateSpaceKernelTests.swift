import CSkiffKernels
import GGUFTestSupport
import Foundation
import Testing

/// Mamba-2's kernels against plain definitions in Double, on random data: two sequences in one batch (one
/// of a single token, as in decoding), each continuing a random earlier state.
@Suite struct StateSpaceKernelTests {
    static func random(_ count: Int, _ range: ClosedRange<Float>, _ rng: inout SplitMix64) -> [Float] {
        (0 ..< count).map { _ in Float.random(in: range, using: &rng) }
    }

    /// Rows 0 ..< 5 are the first sequence, row 5 the second.
    static let counts = [5, 1]

    @Test(arguments: [1, 2, 4], [true, false])
    func convolutionContinuesItsState(kernel: Int, silu: Bool) throws {
        var rng = SplitMix64(state: UInt64(kernel))
        let channels = 70, stride = 75, held = kernel - 1
        let x = Self.random(6 * stride, -2 ... 2, &rng)
        let weight = Self.random(kernel * channels, -1 ... 1, &rng)
        let bias = Self.random(channels, -0.5 ... 0.5, &rng)
        let states = Self.counts.map { _ in Self.random(held * channels, -2 ... 2, &rng) }

        // Expected: each sequence's inputs after its state, convolved, biased, through SiLU.
        var expected = x.map(Double.init)
        var expectedStates: [[Float]] = []
        var first = 0
        for (n, count) in Self.counts.enumerated() {
            let history = (0 ..< held).map { j in Array(states[n][j * channels ..< (j + 1) * channels]) }
                + (0 ..< count).map { t in Array(x[(first + t) * stride ..< (first + t) * stride + channels]) }
            for t in 0 ..< count {
                for c in 0 ..< channels {
                    var sum = Double(bias[c])
                    for j in 0 ..< kernel { sum += Double(weight[j * channels + c]) * Double(history[t + j][c]) }
                    expected[(first + t) * stride + c] = silu ? sum / (1 + exp(-sum)) : sum
                }
            }
            expectedStates.append(history.suffix(held).flatMap { $0 })
            first += count
        }

        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool); skiff_set_isa(skiff_detect_isa()) }
        for isa in availableISAs {
            skiff_set_isa(isa)
            var out = x
            var state0 = states[0], state1 = states[1]
            let status = out.withUnsafeMutableBufferPointer { xs in
                state0.withUnsafeMutableBufferPointer { s0 in
                    state1.withUnsafeMutableBufferPointer { s1 in
                        let sequences = [skiff_ssm_sequence(first: 0, count: 5, conv_state: s0.baseAddress, ssm_state: nil),
                                         skiff_ssm_sequence(first: 5, count: 1, conv_state: s1.baseAddress, ssm_state: nil)]
                        return skiff_ssm_conv(pool, sequences, 2, xs.baseAddress, Int64(stride), Int64(channels), weight, bias, Int64(kernel), silu ? 1 : 0)
                    }
                }
            }
            #expect(status == 0)
            for row in 0 ..< 6 {
                for c in 0 ..< channels {
                    #expect(abs(Double(out[row * stride + c]) - expected[row * stride + c]) < 1e-5, "isa \(isa.rawValue): row \(row), channel \(c)")
                }
                // Columns past the channels are not touched.
                #expect(out[row * stride + channels ..< (row + 1) * stride] == x[row * stride + channels ..< (row + 1) * stride])
            }
            #expect([state0, state1] == expectedStates)
        }
    }

    @Test func convolutionRefusesAKernelItCannotHold() {
        let pool = skiff_pool_create(1)
        defer { skiff_pool_destroy(pool) }
        var x = [Float](repeating: 0, count: 4)
        #expect(skiff_ssm_conv(pool, nil, 0, &x, 4, 4, x, x, Int64(SKIFF_SSM_MAX_CONV_KERNEL + 1), 1) == -1)
    }

    /// Mamba-2's scan (x scaled by dt) and Llamba's (x as it is), token by token (a short prompt and a decoded
    /// token) and by chunks (long prompts: whole and partial chunks of 64, and one just long enough for them).
    @Test(arguments: [true, false], [[5, 1], [150, 1, 16, 64]])
    func scanMatchesTheRecurrence(scaledByDt: Bool, counts: [Int]) throws {
        var rng = SplitMix64(state: 11)
        // Heads of 36 (a 32-column tile and an edge) when the scan goes by chunks.
        let heads = 4, headDim = counts.count > 2 ? 36 : 8, groups = 2, stateSize = 40, tokens = counts.reduce(0, +)
        let width = heads * headDim + 2 * groups * stateSize + heads, yStride = heads * headDim + 3
        let rows = Self.random(tokens * width, -2 ... 2, &rng)
        let a = Self.random(heads, -3 ... -0.1, &rng), d = Self.random(heads, -1 ... 1, &rng)
        let dtBias = Self.random(heads, -4 ... 1, &rng)
        let stateLength = heads * headDim * stateSize
        let states = Self.random(counts.count * stateLength, -1 ... 1, &rng)
        let bAt = heads * headDim, cAt = bAt + groups * stateSize, dtAt = cAt + groups * stateSize

        var expected = [Double](repeating: 0, count: tokens * yStride)
        var expectedStates = states.map(Double.init)
        var first = 0
        for (n, count) in counts.enumerated() {
            for t in 0 ..< count {
                let r = (first + t) * width
                for h in 0 ..< heads {
                    let g = h / (heads / groups)
                    let raw = Double(rows[r + dtAt + h] + dtBias[h])
                    let dt = raw > 20 ? raw : log(1 + exp(raw))
                    let decay = exp(dt * Double(a[h]))
                    for p in 0 ..< headDim {
                        let x = Double(rows[r + h * headDim + p])
                        var y = Double(d[h]) * x
                        for i in 0 ..< stateSize {
                            let s = n * stateLength + (h * headDim + p) * stateSize + i
                            let input = scaledByDt ? dt * x : x
                            expectedStates[s] = decay * expectedStates[s] + input * Double(rows[r + bAt + g * stateSize + i])
                            y += expectedStates[s] * Double(rows[r + cAt + g * stateSize + i])
                        }
                        expected[(first + t) * yStride + h * headDim + p] = y
                    }
                }
            }
            first += count
        }

        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool); skiff_set_isa(skiff_detect_isa()) }
        for isa in availableISAs {
            skiff_set_isa(isa)
            var y = [Float](repeating: 0, count: tokens * yStride)
            var state = states
            let status = rows.withUnsafeBufferPointer { r in
                state.withUnsafeMutableBufferPointer { s in
                    let starts = counts.indices.map { counts[..<$0].reduce(0, +) }
                    let sequences = counts.indices.map {
                        skiff_ssm_sequence(first: Int64(starts[$0]), count: Int64(counts[$0]), conv_state: nil,
                                           ssm_state: s.baseAddress! + $0 * stateLength)
                    }
                    let base = r.baseAddress!
                    return skiff_ssm_scan(pool, sequences, Int64(counts.count), base, base + bAt, base + cAt, base + dtAt, Int64(width), a, d, dtBias,
                                          scaledByDt ? 1 : 0, Int64(heads), Int64(headDim), Int64(groups), Int64(stateSize), &y, Int64(yStride))
                }
            }
            #expect(status == 0)
            let worstY = (0 ..< tokens * yStride).map { abs(Double(y[$0]) - expected[$0]) / max(1, abs(expected[$0])) }.max() ?? .nan
            #expect(worstY <= 1e-4, "isa \(isa.rawValue): outputs")
            let worstState = (0 ..< state.count).map { abs(Double(state[$0]) - expectedStates[$0]) / max(1, abs(expectedStates[$0])) }.max() ?? .nan
            #expect(worstState <= 1e-4, "isa \(isa.rawValue): states")
        }
    }

    @Test func scanRefusesHeadsThatDoNotSplitIntoGroups() {
        let pool = skiff_pool_create(1)
        defer { skiff_pool_destroy(pool) }
        let v = [Float](repeating: 0, count: 8)
        var y = v
        #expect(skiff_ssm_scan(pool, nil, 0, v, v, v, v, 1, v, v, v, 1, 3, 1, 2, 1, &y, 1) == -1)
    }

    @Test func gatedNormMatchesItsDefinition() {
        var rng = SplitMix64(state: 5)
        let width = 24, groups = 3, size = width / groups, yStride = 30, zStride = 26
        let y = Self.random(2 * yStride, -3 ... 3, &rng), z = Self.random(2 * zStride, -4 ... 4, &rng)
        let weight = Self.random(width, 0.5 ... 1.5, &rng)
        var out = y
        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool) }
        skiff_gated_group_rms_norm(pool, &out, Int64(yStride), z, Int64(zStride), weight, 2, Int64(width), Int64(groups), 1e-5)
        for t in 0 ..< 2 {
            let gated = (0 ..< width).map { i -> Double in
                let g = Double(z[t * zStride + i])
                return Double(y[t * yStride + i]) * g / (1 + exp(-g))
            }
            for g in 0 ..< groups {
                let part = gated[g * size ..< (g + 1) * size]
                let rms = (part.map { $0 * $0 }.reduce(0, +) / Double(size) + 1e-5).squareRoot()
                for i in g * size ..< (g + 1) * size {
                    let want = gated[i] / rms * Double(weight[i])
                    #expect(abs(Double(out[t * yStride + i]) - want) < 1e-5 * max(1, abs(want)))
                }
            }
            #expect(out[t * yStride + width ..< (t + 1) * yStride] == y[t * yStride + width ..< (t + 1) * yStride])
        }
    }

    /// Llamba's output gate, with and without its bias, on one row (the calling thread) and on three (the pool).
    @Test(arguments: [1, 3], [true, false])
    func outputGateMatchesItsDefinition(rows: Int, withBias: Bool) {
        var rng = SplitMix64(state: 8)
        let width = 300, yStride = 310, zStride = 305
        let y = Self.random(rows * yStride, -3 ... 3, &rng), z = Self.random(rows * zStride, -6 ... 6, &rng)
        let bias = Self.random(width, -1 ... 1, &rng)
        var out = y
        let pool = skiff_pool_create(2)
        defer { skiff_pool_destroy(pool) }
        if withBias {
            skiff_ssm_gate(pool, &out, Int64(yStride), z, Int64(zStride), bias, Int64(rows), Int64(width))
        } else {
            skiff_ssm_gate(pool, &out, Int64(yStride), z, Int64(zStride), nil, Int64(rows), Int64(width))
        }
        for t in 0 ..< rows {
            for i in 0 ..< width {
                let g = Double(z[t * zStride + i]) + (withBias ? Double(bias[i]) : 0)
                let want = Double(y[t * yStride + i]) * g / (1 + exp(-g))
                #expect(abs(Double(out[t * yStride + i]) - want) < 1e-5 * max(1, abs(want)))
            }
            #expect(out[t * yStride + width ..< (t + 1) * yStride] == y[t * yStride + width ..< (t + 1) * yStride])
        }
    }
}
