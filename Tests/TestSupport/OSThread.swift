#if canImport(Glibc)
import Glibc
#endif

/// A joinable OS thread (not a task: ring and waker tests need two threads truly in parallel,
/// as the server's own threads are).
public final class OSThread {
    private final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
    private var handle = pthread_t()

    public init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&handle, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() { pthread_join(handle, nil) }
}
