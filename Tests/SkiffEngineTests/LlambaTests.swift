import Foundation
import GGUFTestSupport
import SkiffEngine
import SkiffGGUF
import SkiffModelFile
import Testing

/// The llamba architecture on the tiny model in F32 against a plain implementation of the published
/// equations (cartesia-ai/edge, `Llamba/llamba.py` and `mixers/discrete_mamba2.py`), written here in Double
/// and independent of the engine's kernels: the logits after a prompt and after each of a few decoded tokens.
@Suite struct LlambaTests {
    /// The F32 tiny model's tensors by name, in the file's order (first dimension fastest).
    static func tensors(of builder: GGUFBuilder) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for t in builder.tensors {
            let bytes = t.data ?? []
            out[t.name] = stride(from: 0, to: bytes.count, by: 4).map { i in
                Double(Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24))
            }
        }
        return out
    }

    /// The published forward pass over `tokens`, returning each position's logits.
    static func reference(_ w: [String: [Double]], tokens: [Int32]) -> [[Double]] {
        let d = 64, heads = 8, groups = 2, n = 16, k = 4, ffn = 96, vocabulary = 320
        let inner = d, hd = inner / heads, channels = inner + 2 * groups * n, width = channels + inner + heads
        func matvec(_ m: [Double], rows: Int, columns: Int, _ x: [Double]) -> [Double] {
            (0 ..< rows).map { r in (0 ..< columns).reduce(0) { $0 + m[r * columns + $1] * x[$1] } }
        }
        func rmsNorm(_ x: [Double], _ weight: [Double], _ epsilon: Double) -> [Double] {
            let scale = 1 / ((x.map { $0 * $0 }.reduce(0, +) / Double(x.count)) + epsilon).squareRoot()
            return zip(x, weight).map { $0 * scale * $1 }
        }
        func silu(_ v: Double) -> Double { v / (1 + exp(-v)) }
        func softplus(_ v: Double) -> Double { log(1 + exp(v)) }
        var states = (0 ..< 3).map { _ in (conv: [[Double]](repeating: [Double](repeating: 0, count: channels), count: k - 1),
                                           ssm: [Double](repeating: 0, count: inner * n)) }
        var logits: [[Double]] = []
        for token in tokens {
            var x = Array(w["token_embd.weight"]![Int(token) * d ..< (Int(token) + 1) * d])
            for l in 0 ..< 3 {
                let p = "blk.\(l)."
                let normed = rmsNorm(x, w[p + "attn_norm.weight"]!, 1e-6)
                let projected = matvec(w[p + "ssm_in.weight"]!, rows: width, columns: d, normed)
                // Causal depthwise convolution over xBC, bias, no activation.
                let xBC = Array(projected[0 ..< channels])
                let history = states[l].conv + [xBC]
                let conv = (0 ..< channels).map { c in
                    (0 ..< k).reduce(w[p + "ssm_conv1d.bias"]![c]) { $0 + w[p + "ssm_conv1d.weight"]![c * k + $1] * history[$1][c] }
                }
                states[l].conv = Array(history.suffix(k - 1))
                let z = Array(projected[channels ..< channels + inner]), aLog = Array(projected[channels + inner ..< width])
                var y = [Double](repeating: 0, count: inner)
                for h in 0 ..< heads {
                    let g = h / (heads / groups)
                    let dt = softplus(aLog[h]), decay = exp(-dt)
                    for q in 0 ..< hd {
                        let xv = conv[h * hd + q]
                        var sum = 0.0
                        for i in 0 ..< n {
                            let s = (h * hd + q) * n + i
                            // x / dt enters a scan that multiplies it by dt.
                            states[l].ssm[s] = decay * states[l].ssm[s] + dt * (xv / dt) * conv[inner + g * n + i]
                            sum += states[l].ssm[s] * conv[inner + groups * n + g * n + i]
                        }
                        y[h * hd + q] = sum + w[p + "ssm_d"]![h] * xv
                    }
                }
                let gated = (0 ..< inner).map { y[$0] * silu(z[$0] + w[p + "ssm_z_bias"]![$0]) }
                x = zip(x, matvec(w[p + "ssm_out.weight"]!, rows: d, columns: inner, gated)).map(+)
                let m = rmsNorm(x, w[p + "ffn_norm.weight"]!, 1e-6)
                let gate = matvec(w[p + "ffn_gate.weight"]!, rows: ffn, columns: d, m), up = matvec(w[p + "ffn_up.weight"]!, rows: ffn, columns: d, m)
                x = zip(x, matvec(w[p + "ffn_down.weight"]!, rows: d, columns: ffn, zip(gate, up).map { silu($0) * $1 })).map(+)
            }
            logits.append(matvec(w["output.weight"]!, rows: vocabulary, columns: d, rmsNorm(x, w["output_norm.weight"]!, 1e-5)))
        }
        return logits
    }

    @Test func matchesThePublishedEquationsInF32() throws {
        let builder = TinyModel.build(architecture: "llamba", allF32: true)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-tiny-llamba-f32-\(getpid()).gguf").path
        try builder.build().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try LoadedModel(path: path)
        #expect(model.architecture == "llamba")
        let prompt: [Int32] = [19, 131, 243, 38, 150, 262, 57, 169, 281, 76, 188, 300]
        let decoded: [Int32] = [5, 77, 201]
        let expected = Self.reference(Self.tensors(of: builder), tokens: prompt + decoded)
        let session = try GenerationSession(model: model, contextLength: 64, threads: 2)
        // The prompt in one pass, then token by token.
        var rows = [try session.append(prompt)]
        for token in decoded { rows.append(try session.append([token])) }
        for (i, row) in rows.enumerated() {
            let want = expected[prompt.count - 1 + i]
            let scale = want.map(abs).max() ?? 1
            let worst = zip(row, want).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * max(scale, 1), "position \(prompt.count - 1 + i): largest difference \(worst), largest logit \(scale)")
        }
    }
}
