import Foundation

/// What one engine step computes: the unit a step-time model prices.
public struct StepShape: Sendable, Equatable {
    /// Prompt tokens computed in the step (chunks of prefills).
    public var prefillTokens: Int
    /// Sequences decoding one token each.
    public var decodeSequences: Int
    /// Positions the prompt tokens attend, summed (a chunk of n tokens starting at p attends about n × (p + n/2)).
    public var prefillAttended: Int
    /// Positions the decoding sequences attend, summed (their context lengths).
    public var decodeAttended: Int

    /// Creates a step.
    public init(prefillTokens: Int, prefillAttended: Int, decodeSequences: Int, decodeAttended: Int) {
        self.prefillTokens = prefillTokens
        self.prefillAttended = prefillAttended
        self.decodeSequences = decodeSequences
        self.decodeAttended = decodeAttended
    }

    /// Positions attended by every token of the step.
    public var attendedPositions: Int { prefillAttended + decodeAttended }

    /// Tokens computed in the step.
    public var tokens: Int { prefillTokens + decodeSequences }
}

/// How long a step takes on a replica.
public enum StepTimeModel: Sendable, Equatable {
    /// A roofline for GPUs: a step reads the weights (and the touched experts) and the attended KV once, and
    /// does 2 × active parameters FLOPs per token plus attention; it takes the longer of memory and compute
    /// time at the stated efficiencies, plus a fixed launch cost.
    case roofline(Roofline)
    /// Figures fitted to measurements on a CPU: a fixed cost, per token, per decoding sequence and per
    /// attended position (prompt and decode apart).
    case fitted(FittedStepTime)

    /// Seconds the step takes.
    public func seconds(_ step: StepShape) -> Double {
        switch self {
        case .roofline(let r): r.seconds(step)
        case .fitted(let f): f.seconds(step)
        }
    }

    /// Seconds a request spends outside engine steps before its first token reaches the client (HTTP, chat
    /// template, tokenizer, hand-off to the engine thread, first event on the stream): measured on CPU, 0 for
    /// the roofline. A constant per request, so it adds to time to first token and changes no queueing.
    public var requestOverheadSeconds: Double {
        switch self {
        case .roofline: 0
        case .fitted(let f): f.requestOverheadSeconds
        }
    }
}

/// The roofline of one replica.
public struct Roofline: Sendable, Equatable, Codable {
    /// Weight bytes of the whole replica.
    public var weightsBytes: Double
    /// Share of weight bytes in experts (0 for dense models).
    public var expertShare: Double
    /// Experts per layer (1 for dense models).
    public var expertCount: Int
    /// Experts each token is routed to (1 for dense models).
    public var expertsPerToken: Int
    /// 2 × active parameters: FLOPs per token outside attention.
    public var flopsPerToken: Double
    /// 4 × attention layers × heads × head dim: FLOPs per attended position.
    public var flopsPerAttendedPosition: Double
    /// KV bytes a decode reads per position it attends (all attention layers).
    public var kvBytesPerPosition: Double
    /// Recurrent state bytes read and written per sequence per step.
    public var stateBytesPerSequence: Double
    /// Memory bandwidth of the replica's GPUs that work at once (tensor-parallel group), bytes/s.
    public var bandwidth: Double
    /// Peak dense FLOPS of those GPUs at the compute precision.
    public var peakFlops: Double
    /// Share of peak bandwidth reached (decode).
    public var bandwidthEfficiency: Double
    /// Share of peak FLOPS reached (prefill).
    public var computeEfficiency: Double
    /// Fixed seconds per step (launches, scheduling, sampling).
    public var fixedSeconds: Double

    /// Seconds the step takes.
    public func seconds(_ step: StepShape) -> Double {
        let sequences = step.decodeSequences + (step.prefillTokens > 0 ? 1 : 0)
        let touched = expertCount > 1 ? 1 - pow(1 - Double(expertsPerToken) / Double(expertCount), Double(max(step.tokens, 1))) : 1
        let weights = weightsBytes * ((1 - expertShare) + expertShare * touched)
        let bytes = weights + kvBytesPerPosition * Double(step.decodeAttended) + stateBytesPerSequence * Double(sequences)
        let flops = flopsPerToken * Double(step.tokens) + flopsPerAttendedPosition * Double(step.attendedPositions)
        let memoryTime = bytes / (bandwidth * bandwidthEfficiency)
        let computeTime = flops / (peakFlops * computeEfficiency)
        return fixedSeconds + max(memoryTime, computeTime)
    }
}

/// Step-time figures fitted to measurements.
public struct FittedStepTime: Sendable, Equatable, Codable {
    /// Seconds every step costs (reading the weights once, scheduling).
    public var fixedSeconds: Double
    /// Seconds per token computed.
    public var secondsPerToken: Double
    /// Seconds per decoding sequence in the batch.
    public var secondsPerSequence: Double
    /// Seconds per position a prompt token attends.
    public var secondsPerPrefillAttended: Double
    /// Seconds per position a decoded token attends.
    public var secondsPerDecodeAttended: Double
    /// Seconds per request outside the steps, before its first token (see `StepTimeModel.requestOverheadSeconds`).
    public var requestOverheadSeconds: Double

    /// Creates figures.
    public init(fixedSeconds: Double, secondsPerToken: Double, secondsPerSequence: Double, secondsPerPrefillAttended: Double,
                secondsPerDecodeAttended: Double, requestOverheadSeconds: Double = 0) {
        self.fixedSeconds = fixedSeconds
        self.secondsPerToken = secondsPerToken
        self.secondsPerSequence = secondsPerSequence
        self.secondsPerPrefillAttended = secondsPerPrefillAttended
        self.secondsPerDecodeAttended = secondsPerDecodeAttended
        self.requestOverheadSeconds = requestOverheadSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case fixedSeconds, secondsPerToken, secondsPerSequence, secondsPerPrefillAttended, secondsPerDecodeAttended, requestOverheadSeconds
    }

    /// Decodes figures; profiles written before the request overhead was fitted have none (0).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(fixedSeconds: try c.decode(Double.self, forKey: .fixedSeconds), secondsPerToken: try c.decode(Double.self, forKey: .secondsPerToken),
                  secondsPerSequence: try c.decode(Double.self, forKey: .secondsPerSequence),
                  secondsPerPrefillAttended: try c.decode(Double.self, forKey: .secondsPerPrefillAttended),
                  secondsPerDecodeAttended: try c.decode(Double.self, forKey: .secondsPerDecodeAttended),
                  requestOverheadSeconds: try c.decodeIfPresent(Double.self, forKey: .requestOverheadSeconds) ?? 0)
    }

    /// Seconds the step takes.
    public func seconds(_ step: StepShape) -> Double {
        fixedSeconds + secondsPerToken * Double(step.tokens) + secondsPerSequence * Double(step.decodeSequences)
            + secondsPerPrefillAttended * Double(step.prefillAttended) + secondsPerDecodeAttended * Double(step.decodeAttended)
    }
}
