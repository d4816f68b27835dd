import NIOCore

/// Runs a task's jobs on one NIO event loop.
///
/// An answer stream reads the model service's events and writes the browser's: run on the cooperative
/// pool, every token crosses threads four times (the upstream connection's loop, the task reading it, the
/// task writing, the browser connection's loop), and with hundreds of streams those wake-ups are most of
/// the tier's CPU. Run on the browser connection's loop, the stream's tasks resume where its writes go,
/// and the upstream request uses that loop's connection pool (`UpstreamClient` keeps one per loop).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
