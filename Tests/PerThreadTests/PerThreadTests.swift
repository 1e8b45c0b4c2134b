import Glibc
import PerThread
import Synchronization
import Testing

struct PerThreadTests {
    @Test func eachThreadHasItsOwnValue() {
        let counter = PerThread<Int> { 0 }
        counter.withValue { $0 += 5 }
        #expect(counter.withValue { $0 } == 5)

        final class Result: @unchecked Sendable { var seen = -1 }
        let result = Result()
        final class Context { let counter: PerThread<Int>; let result: Result; init(_ c: PerThread<Int>, _ r: Result) { counter = c; result = r } }
        let context = Unmanaged.passRetained(Context(counter, result))
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let c = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            c.result.seen = c.counter.withValue { value in
                value += 1
                return value
            }
            return nil
        }, context.toOpaque())
        pthread_join(thread, nil)
        #expect(result.seen == 1)
        #expect(counter.withValue { $0 } == 5)
    }
}
