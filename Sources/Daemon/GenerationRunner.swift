import Foundation
import Inference
import Logging
import Speculative
import Wire

/// Runs one queued generation on a worker thread and reports it to the client.
struct GenerationRunner: Sendable {
    let id: UInt64
    let plan: GeneratePlan
    let ticket: RequestTicket
    let sink: any ResponseSink
    let factory: any GeneratorFactory
    /// Each request's KV cache and scratch are admitted here before they are allocated.
    let memory: MemoryAdmission
    let logger: Logger

    func run(enqueued: ContinuousClock.Instant) {
        let queueSeconds = (ContinuousClock.now - enqueued).seconds
        let model = plan.model
        guard !ticket.isCancelled else {
            sink.send(.status(id: id, .cancelled, "request \(id) was cancelled"))
            return
        }
        do {
            let isCancelled = { ticket.isCancelled }
            guard let prompt = try plan.promptTokens(isCancelled: isCancelled) else {
                sink.send(.status(id: id, .cancelled, "request \(id) was cancelled while its prompt was tokenized"))
                return
            }
            let reservation = try admitSession()
            defer { reservation.release() }
            // An automatic EAGLE request asks the policy again as it runs (it may switch trees,
            // or to plain decoding and back); a request that named its tree keeps it.
            let sampled = !plan.params.sampling.isGreedy
            let schedule = plan.decoding.automatic && plan.decoding.choice.tree != nil
                ? model.treePolicy.map { TreeSchedule(policy: $0, sampled: sampled, company: plan.decoding.company) } : nil
            let generator = factory.makeGenerator(plan.decoding.choice, for: model, schedule: schedule)
            var chunks = ChunkCoalescer()
            let sendChunk = { (chunk: Eagle_V1_GenerateChunk) in
                // A client that does not read holds its stream here instead of in our buffers,
                // and the requests sharing its passes stop waiting for it meanwhile.
                if !sink.isWritable {
                    if let combiner = model.combiner {
                        combiner.away { sink.waitUntilWritable(isCancelled: isCancelled) }
                    } else {
                        sink.waitUntilWritable(isCancelled: isCancelled)
                    }
                }
                var response = Eagle_V1_Response()
                response.id = id
                response.chunk = chunk
                sink.send(response)
            }
            let result = try generator.generate(prompt: prompt, params: plan.params, isCancelled: isCancelled) { event in
                if ticket.isCancelled { return .cancel }
                if plan.stream, let chunk = chunks.add(event) { sendChunk(chunk) }
                return .proceed
            }
            if plan.stream, let chunk = chunks.flush() { sendChunk(chunk) }
            model.treePolicy?.record(result, tree: plan.decoding.choice.tree, schedule: schedule, sampled: sampled,
                                     company: plan.decoding.company)
            model.statistics.recordGeneration(
                tokens: result.tokens.count, promptTokens: result.promptTokenCount, steps: result.steps,
                decodeSeconds: result.decodeSeconds)
            if result.stopReason == .cancelled {
                sink.send(.status(id: id, .cancelled, "request \(id) was cancelled after \(result.tokens.count) tokens"))
                return
            }
            var response = Eagle_V1_Response()
            response.id = id
            response.generate = .with {
                $0.ids = result.tokens.map { UInt32(bitPattern: $0) }
                $0.text = result.text
                $0.stopReason = Self.wireReason(result.stopReason)
                $0.promptTokens = UInt32(result.promptTokenCount)
                $0.steps = UInt32(result.steps)
                $0.meanAccepted = result.meanTokensPerStep
                $0.prefillSeconds = result.prefillSeconds
                $0.decodeSeconds = result.decodeSeconds
                $0.queueSeconds = queueSeconds
                $0.seed = plan.params.sampling.seed
                // What was used: the first choice, or each decoding in turn when it changed.
                $0.decoding = schedule.flatMap { $0.switched ? $0.summary : nil } ?? plan.decoding.description
                $0.decodingReason = plan.decoding.reason
                $0.expectedAccepted = plan.decoding.expectedTokensPerStep
            }
            sink.send(response)
        } catch {
            model.statistics.recordError()
            let failure: ServiceError
            switch error {
            case let e as ServiceError: failure = e
            case let e as InferenceError: failure = ServiceError(e)
            default: failure = .internalError("generation failed: \(error)")
            }
            if failure.code == .internal {
                logger.error("request \(id) on model '\(model.name)' failed: \(failure.message)")
            }
            sink.send(failure.response(id: id))
        }
    }

    /// The KV cache (full context) and scratch this request is about to allocate, against
    /// the memory ledger: RESOURCE_EXHAUSTED when they do not fit next to the others.
    private func admitSession() throws(ServiceError) -> MemoryReservation {
        let model = plan.model
        let bytes = plan.decoding.choice.tree == nil ? model.sessionBytes.plain : model.sessionBytes.eagle
        return try memory.admit(bytes, for: "request \(id) on model '\(model.name)'",
                                detail: "KV cache and scratch at context \(model.contextLength)")
    }

    static func wireReason(_ reason: StopReason) -> Eagle_V1_StopReason {
        switch reason {
        case .endOfSequence: return .eos
        case .stopString: return .stopString
        case .maxTokens: return .maxTokens
        case .contextFull: return .contextFull
        case .cancelled: return .cancelled
        }
    }
}
