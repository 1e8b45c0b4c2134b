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
        final class Context {
            let counter: PerThread<Int>
            let result: Result
            init(_ c: PerThread<Int>, _ r: Result) {
                counter = c
                result = r
            }
        }
        let context = Unmanaged.passRetained(Context(counter, result))
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { raw in
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

    /// Counts live instances, to see values freed.
    final class Tracked: Sendable {
        static let live = Atomic<Int>(0)
        init() { Self.live.add(1, ordering: .relaxed) }
        deinit { Self.live.subtract(1, ordering: .relaxed) }
    }

    @Test func valuesAreFreedWhenTheirThreadExitsAndWhenTheStorageGoes() {
        let before = Tracked.live.load(ordering: .relaxed)
        var storage: PerThread<Tracked>? = PerThread { Tracked() }
        // A thread that exits frees its value at exit.
        final class Context {
            let storage: PerThread<Tracked>
            init(_ s: PerThread<Tracked>) { storage = s }
        }
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { raw in
                let c = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                c.storage.withValue { _ in }
                return nil
            }, Unmanaged.passRetained(Context(storage!)).toOpaque())
        pthread_join(thread, nil)
        #expect(Tracked.live.load(ordering: .relaxed) == before)
        // This thread lives on: its value goes with the storage (a replaced configuration's caches).
        storage!.withValue { _ in }
        #expect(Tracked.live.load(ordering: .relaxed) == before + 1)
        storage = nil
        #expect(Tracked.live.load(ordering: .relaxed) == before)
    }
}

struct ReloadableTests {
    @Test func readersSeeTheReplacementOnTheirNextRead() {
        let value = Reloadable("first")
        #expect(value.current == "first")
        value.replace(with: "second")
        #expect(value.current == "second")
        value.replace(with: "third")
        #expect(value.current == "third")
        #expect(value.withCurrent { $0.count } == 5)
        value.replace(with: "fourth")
        #expect(value.withCurrent { $0 } == "fourth")
    }

    @Test func everyThreadSeesTheReplacement() async {
        let value = Reloadable(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = value.current } }
        }
        value.replace(with: 42)
        let seen = await withTaskGroup(of: Int.self, returning: [Int].self) { group in
            for _ in 0..<8 { group.addTask { value.current } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(seen == Array(repeating: 42, count: 8))
    }
}
