import BatonJSON
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Serves JSON-RPC 2.0 on one connection. It lives on the connection's event loop and
/// owns everything about the connection: the handshake, in-flight accounting and
/// backpressure.
///
/// Reading pauses while the connection has `maxInFlight` requests being answered or
/// while its socket is not writable, so a fast writer is slowed down instead of making
/// the host buffer without bound. What the host pushes by itself cannot wait that way,
/// so a client that leaves its socket unread for `writeStallTimeout`, or lets more than
/// `outboundQueue` messages pile up, is disconnected with a log line saying which.
///
/// Lifecycle: `open` → `inputClosed` (the client shut its side; calls in flight are still
/// answered) → `closing`; or `open` → `closing` on an error, a refusal or a stall.
final class RPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: RPCServerState
    private let peer: PeerCredentials
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var session: RPCSession?

    private var lane: RPCSessionLane?
    private var lifecycle = Lifecycle.open
    /// Calls started and not answered yet; bounded by `rpc.maxInFlight`.
    private var inFlight = 0
    /// Calls in the lane whose effect has not finished: a `sync` call waits behind them.
    private var effectsQueued = 0
    /// Calls read while the connection was at its limit, in arrival order.
    private var parked = CircularBuffer<Incoming>()
    /// A read the channel asked for while reading was paused; owed once it resumes.
    private var readWithheld = false
    private var pendingOutput: ByteBuffer?
    private var queuedWhileBlocked = 0
    private var stallTimer: Scheduled<Void>?
    private var helloTimer: Scheduled<Void>?

    init(server: RPCServerState, peer: PeerCredentials, logger: Logger) {
        self.server = server
        self.peer = peer
        self.logger = logger
    }

    private enum Lifecycle {
        case open
        case inputClosed
        case closing
    }

    private var closing: Bool { lifecycle == .closing }

    private var configuration: RPCServerConfiguration { server.configuration }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let timeout = configuration.helloTimeout
        helloTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard session == nil else { return }
            let error = RPCError(
                code: RPCError.notInitializedCode,
                message:
                    "Not initialized: no host.hello within \(timeout.nanoseconds / 1_000_000) ms (setting rpc.helloTimeoutMs)"
            )
            write(RPCEnvelope.error(error, id: .null))
            close(reason: "no host.hello in time")
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        helloTimer?.cancel()
        stallTimer?.cancel()
        self.context = nil
        lane?.finish()
        lane = nil
        session = nil  // the session refers back to this handler; let both go
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        handleLine(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
            queuedWhileBlocked = 0
            resumeReadingIfPossible()
        } else if stallTimer == nil {
            let timeout = configuration.writeStallTimeout
            stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                close(
                    reason:
                        "client stopped reading: socket unwritable for \(timeout.nanoseconds / 1_000_000) ms (setting rpc.writeStallTimeoutMs)",
                    immediately: true
                )
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let tooLong as LineTooLong:
            let error = RPCError(
                code: RPCError.messageTooLargeCode,
                message:
                    "Message too large: a line may hold at most \(tooLong.limit) bytes (setting rpc.maxLineBytes); the rest of the line was discarded",
                data: ["setting": "rpc.maxLineBytes", "limit": .int(Int64(tooLong.limit))]
            )
            write(RPCEnvelope.error(error, id: .null))
        case ChannelEvent.inputClosed:
            if lifecycle == .open { lifecycle = .inputClosed }
            closeIfFinished()
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A client that closes with answers still unread resets the connection: that is a
        // normal goodbye, not a fault.
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            logger.info("client reset the connection")
            lifecycle = .closing
            context.close(promise: nil)
            return
        }
        close(reason: "connection error: \(error)", immediately: true)
    }

    func read(context: ChannelHandlerContext) {
        if mustPauseReading {
            readWithheld = true
        } else {
            context.read()
        }
    }

    // MARK: Requests

    /// One line's worth of calls: a single message or a batch.
    private enum Incoming {
        case single(JSON)
        case batch([JSON])

        var calls: Int {
            switch self {
            case .single: return 1
            case .batch(let elements): return elements.count
            }
        }
    }

    private func handleLine(_ line: ByteBuffer) {
        if line.readableBytesView.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
            return  // blank lines are keep-alives, not messages
        }
        let message: JSON
        do {
            message = try line.withUnsafeReadableBytes { bytes throws(JSONParseError) in try JSON.parse(bytes) }
        } catch {
            let rpcError = RPCError(
                code: RPCError.parseErrorCode,
                message: "Parse error: \(error)",
                data: [
                    "line": .int(Int64(error.line)), "column": .int(Int64(error.column)),
                    "position": .int(Int64(error.position)),
                ]
            )
            write(RPCEnvelope.error(rpcError, id: .null))
            return
        }
        guard case .array(let elements) = message else { return admit(.single(message)) }
        guard !elements.isEmpty else {
            write(RPCEnvelope.error(.invalidRequest("an empty batch"), id: .null))
            return
        }
        guard elements.count <= configuration.maxInFlight else {
            let error = RPCError.limitExceeded(
                "a batch of \(elements.count) requests is more than the \(configuration.maxInFlight) a connection may have in flight",
                setting: "rpc.maxInFlight",
                limit: configuration.maxInFlight
            )
            write(RPCEnvelope.error(error, id: .null))
            return
        }
        admit(.batch(elements))
    }

    /// Starts the calls at once when they fit under `rpc.maxInFlight`; otherwise they wait,
    /// in order, with reading paused, until enough earlier calls are answered. Lines that one
    /// read already brought in wait here too, so the limit is exact.
    private func admit(_ incoming: Incoming) {
        if parked.isEmpty, inFlight + incoming.calls <= configuration.maxInFlight {
            start(incoming)
        } else {
            parked.append(incoming)
        }
    }

    private func startParked() {
        while let next = parked.first, inFlight + next.calls <= configuration.maxInFlight {
            parked.removeFirst()
            start(next)
        }
    }

    private func start(_ incoming: Incoming) {
        inFlight += incoming.calls
        switch incoming {
        case .single(let message):
            dispatch(message, to: .single)
        case .batch(let elements):
            let batch = BatchReplies(outstanding: elements.count)
            for element in elements { dispatch(element, to: .batch(batch)) }
        }
    }

    /// Where the answer to one message goes: straight out, or into its batch.
    private enum ReplyTarget {
        case single
        case batch(BatchReplies)
    }

    /// Collects a batch's answers until the last one is in.
    private final class BatchReplies {
        var responses: [JSON] = []
        var afterAnswers: [RPCAfterAnswer] = []
        var outstanding: Int

        init(outstanding: Int) {
            self.outstanding = outstanding
        }
    }

    /// Hands over one answer (`nil` stands for a notification, which gets none), counts the
    /// call as finished, and once the answer is written runs what the call left for then.
    private func deliver(_ response: JSON?, to target: ReplyTarget, then afterAnswer: RPCAfterAnswer? = nil) {
        inFlight -= 1
        switch target {
        case .single:
            if let response { write(response) }
            afterAnswer?.run()
        case .batch(let batch):
            if let response { batch.responses.append(response) }
            if let afterAnswer { batch.afterAnswers.append(afterAnswer) }
            batch.outstanding -= 1
            if batch.outstanding == 0 {
                if !batch.responses.isEmpty { write(.array(batch.responses)) }
                for afterAnswer in batch.afterAnswers { afterAnswer.run() }
            }
        }
    }

    private func deliver(
        _ result: Result<JSON, RPCError>,
        for request: RPCRequest,
        to target: ReplyTarget,
        then afterAnswer: RPCAfterAnswer? = nil
    ) {
        guard let id = request.id else { return deliver(nil, to: target, then: afterAnswer) }
        switch result {
        case .success(let value): deliver(RPCEnvelope.result(value, id: id), to: target, then: afterAnswer)
        case .failure(let error): deliver(RPCEnvelope.error(error, id: id), to: target, then: afterAnswer)
        }
    }

    /// Answers one message: checks it, then applies it in its session's order.
    private func dispatch(_ message: JSON, to target: ReplyTarget) {
        let request: RPCRequest
        switch RPCRequest.validate(message) {
        case .success(let valid): request = valid
        case .failure(let invalid):
            return deliver(RPCEnvelope.error(invalid.error, id: invalid.id), to: target)
        }
        if request.method == RPCHandshake.helloMethod {
            return deliver(hello(request.params), for: request, to: target)
        }
        guard let session, let lane else {
            let error = RPCError(
                code: RPCError.notInitializedCode,
                message: "Not initialized: call host.hello before \(request.method)"
            )
            return deliver(.failure(error), for: request, to: target)
        }
        guard let method = server.methods[request.method] else {
            return deliver(.failure(.methodNotFound(request.method)), for: request, to: target)
        }
        guard method.roles.contains(session.role) else {
            let allowed = method.roles.map(\.rawValue).sorted().joined(separator: ", ")
            let error = RPCError(
                code: RPCError.roleNotAllowedCode,
                message: "Role not allowed: \(request.method) is for \(allowed), and this session is \(session.role)"
            )
            return deliver(.failure(error), for: request, to: target)
        }
        let call = RPCCall(
            method: request.method,
            params: request.params,
            session: session,
            afterAnswer: RPCAfterAnswer()
        )
        if case .sync(let body) = method.body, effectsQueued == 0 {
            // Nothing earlier to wait for.
            return deliver(Self.run { try body(call) }, for: request, to: target, then: call.afterAnswer)
        }
        effectsQueued += 1
        let loop = session.channel.eventLoop
        let answer = NIOLoopBound(
            { [self] (result: Result<JSON, RPCError>) in
                deliver(result, for: request, to: target, then: call.afterAnswer)
                finishedCall()
            },
            eventLoop: loop
        )
        let effectApplied = NIOLoopBound({ [self] in effectsQueued -= 1 }, eventLoop: loop)
        let answerOnLoop: @Sendable (Result<JSON, RPCError>) -> Void = { result in loop.execute { answer.value(result) }
        }
        let effectAppliedOnLoop: @Sendable () -> Void = { loop.execute { effectApplied.value() } }
        lane.enqueue(Self.effect(of: method.body, call, applied: effectAppliedOnLoop, answer: answerOnLoop))
    }

    /// The lane step of one call: its effect, then what it waits for, if anything.
    private static func effect(
        of body: RPCMethod.Body,
        _ call: RPCCall,
        applied: @escaping @Sendable () -> Void,
        answer: @escaping @Sendable (Result<JSON, RPCError>) -> Void
    ) -> RPCSessionLane.Effect {
        {
            switch body {
            case .sync(let body):
                let result = run { try body(call) }
                applied()
                answer(result)
                return nil
            case .ordered(let body):
                let result = await invoke { try await body(call) }
                applied()
                answer(result)
                return nil
            case .waiting(let body):
                let remainder: RPCRemainder
                do {
                    remainder = try await body(call)
                } catch {
                    applied()
                    answer(.failure(rpcError(error)))
                    return nil
                }
                applied()
                return { answer(await invoke(remainder.run)) }
            }
        }
    }

    private static func run(_ body: () throws -> JSON) -> Result<JSON, RPCError> {
        do { return .success(try body()) } catch { return .failure(rpcError(error)) }
    }

    private static func invoke(_ body: () async throws -> JSON) async -> Result<JSON, RPCError> {
        do { return .success(try await body()) } catch { return .failure(rpcError(error)) }
    }

    private static func rpcError(_ error: any Error) -> RPCError {
        (error as? RPCError) ?? .internalError(String(describing: error))
    }

    private func finishedCall() {
        startParked()
        flushIfNeeded()
        resumeReadingIfPossible()
        closeIfFinished()
    }

    private func hello(_ params: JSON?) -> Result<JSON, RPCError> {
        guard let context else { return .failure(.internalError("connection closed")) }
        let outcome = RPCHandshake.accept(
            params: params,
            existing: session,
            configuration: configuration,
            peer: peer
        )
        switch outcome {
        case .failure(let failure):
            if failure.closesConnection {
                context.eventLoop.assumeIsolated().execute { [self] in
                    close(reason: "refused at hello: \(failure.error.message)")
                }
            }
            return .failure(failure.error)
        case .success(let accepted):
            let session = RPCSession(
                id: accepted.sessionID,
                role: accepted.role,
                client: accepted.client,
                version: accepted.version,
                peer: peer,
                connection: NIOLoopBound(self, eventLoop: context.eventLoop),
                channel: context.channel
            )
            self.session = session
            lane = RPCSessionLane()
            helloTimer?.cancel()
            logger[metadataKey: "session"] = "\(session.id)"
            logger.info(
                "session opened",
                metadata: ["role": "\(session.role)", "client": "\(session.client.name) \(session.client.version)"]
            )
            return .success(RPCHandshake.result(for: session, configuration: configuration))
        }
    }

    // MARK: Output

    /// A notification the host sends by itself, flushed at once. Responses are held
    /// back by pausing reads; pushes are not, so they are the ones counted against
    /// `outboundQueue` while the client is not reading.
    func push(_ message: JSON) {
        guard !closing, let context else { return }
        if !context.channel.isWritable {
            queuedWhileBlocked += 1
            if queuedWhileBlocked > configuration.outboundQueue {
                close(
                    reason:
                        "client stopped reading: more than \(configuration.outboundQueue) notifications queued (setting rpc.outboundQueue)",
                    immediately: true
                )
                return
            }
        }
        write(message)
        flushIfNeeded()
    }

    /// Appends one message to the output held for the next flush, so the answers to
    /// everything one read brought in leave in a single write.
    private func write(_ message: JSON) {
        guard let context, !closing else { return }
        do {
            try message.withSerializedBytes { bytes in
                if pendingOutput == nil {
                    pendingOutput = context.channel.allocator.buffer(capacity: max(bytes.count + 1, 4096))
                }
                pendingOutput!.writeBytes(bytes)
                pendingOutput!.writeInteger(UInt8(ascii: "\n"))
            }
        } catch {
            logger.error("could not encode a response", metadata: ["error": "\(error)"])
        }
    }

    private func flushIfNeeded() {
        guard let context, let output = pendingOutput else { return }
        pendingOutput = nil
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
    }

    // MARK: Flow control and closing

    private var mustPauseReading: Bool {
        closing || !parked.isEmpty || inFlight >= configuration.maxInFlight || !(context?.channel.isWritable ?? false)
    }

    private func resumeReadingIfPossible() {
        guard readWithheld, !mustPauseReading, let context else { return }
        readWithheld = false
        context.read()
    }

    private func closeIfFinished() {
        guard lifecycle == .inputClosed, inFlight == 0, parked.isEmpty else { return }
        closeAfterOutput()
    }

    /// Closes once what is already answered has been written, so a refusal or a last
    /// answer reaches the client. A client too stuck to take it is closed by the stall timer.
    private func closeAfterOutput() {
        guard !closing, let context else { return }
        lifecycle = .closing
        guard let output = pendingOutput else { return context.close(promise: nil) }
        pendingOutput = nil
        context.writeAndFlush(wrapOutboundOut(output)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Closes with a log line saying why; `immediately` drops unsent output, for clients
    /// that are not reading it anyway.
    func close(reason: String, immediately: Bool = false) {
        guard !closing, let context else { return }
        logger.warning("closing connection", metadata: ["reason": "\(reason)"])
        if immediately {
            lifecycle = .closing
            pendingOutput = nil
            context.close(promise: nil)
        } else {
            closeAfterOutput()
        }
    }

}
