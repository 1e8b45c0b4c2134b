// Signing-core micro-benchmark: policies signed per second on one thread, per store and scheme.
//
//   upsign-bench [seconds-per-case [case ...]]   (Benchmarks/signing.sh builds it in release and runs it)
//   upsign-bench nCOUNT [case ...]               exactly COUNT iterations per case, for
//                                                `valgrind --tool=callgrind` (instruction counts)
//
// Each iteration signs one upload with a fresh key, as a request does: the policy JSON, its
// base64, the HMAC (V4-style schemes with the signing-key cache warm, as on every request but a
// day's first) and the whole ordered form. Prints `name rate` lines, policies per second.
import Crypto
import Glibc
import PostPolicy

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let first = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "2"
let fixedCount = first.hasPrefix("n") ? Int(first.dropFirst()) : nil
let seconds = Double(first) ?? 2
let credentials = Credentials(accessKeyId: "LTAI5tBenchBenchBench00", secret: Secret("bench-secret-not-a-real-key-0000000000"))
let issued = Timestamp(secondsSince1970: 1_798_761_600)
let cache = SigningKeyCache()

/// The upload of iteration `i`: the key changes each time, as upsign's UUID keys do.
func upload(_ i: Int) -> PostUpload {
    PostUpload(
        bucket: "examplebucket", url: "https://examplebucket.oss-cn-hangzhou.aliyuncs.com",
        key: "avatars/bench-user/\(i)-0f8fad5b-d9cb-469f-a165-70867728950e.jpg", contentLength: 0...1_048_576_000,
        contentType: nil, successActionStatus: nil, issuedAt: issued, expiration: issued.adding(seconds: 300))
}

let cases: [(String, any PostSigner)] = [
    ("oss-v1", OSSPostSignerV1(credentials: credentials)),
    ("oss-v4", OSSPostSignerV4(credentials: credentials, region: "cn-hangzhou", cache: (cache, 1))),
    ("s3-v4", S3PostSignerV4(credentials: credentials, region: "us-east-1", cache: (cache, 1))),
    ("gcs-v4", GCSPostSignerV4(credentials: credentials, cache: (cache, 1))),
    ("tencent-cos", COSPostSigner(credentials: credentials)),
    ("huawei-obs", OBSPostSigner(credentials: credentials)),
    ("qiniu", QiniuUploadTokenSigner(credentials: credentials)),
]

let only = Set(CommandLine.arguments.dropFirst(2))
var sink = 0
for (name, signer) in cases where only.isEmpty || only.contains(name) {
    // Warm up (and fill the key cache), then count whole batches until the time is up.
    for i in 0..<1000 { sink &+= signer.sign(upload(i)).signature.utf8.count }
    var count = 0
    let start = now()
    var elapsed = 0.0
    if let fixedCount {
        for i in 0..<fixedCount { sink &+= signer.sign(upload(i)).signature.utf8.count }
        print("\(name) \(fixedCount) iterations")
        continue
    }
    repeat {
        for _ in 0..<2000 {
            sink &+= signer.sign(upload(count)).signature.utf8.count
            count += 1
        }
        elapsed = now() - start
    } while elapsed < seconds
    print("\(name) \(Int(Double(count) / elapsed))")
}
if sink == 42 { print("") }
