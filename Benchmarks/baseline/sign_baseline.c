/* The C + OpenSSL baseline of the signing-core benchmark: the same work as upsign's OSS V1 and
 * V4 signers per iteration, written as a C programmer would. The policy JSON is printed with
 * snprintf (the same bytes as upsign's), base64-encoded with EVP_EncodeBlock and signed with
 * one-shot HMAC(): V1 = base64(HMAC-SHA1(secret, base64 policy)); V4 = hex(HMAC-SHA256(cached
 * signing key, base64 policy)), the key derived once up front as upsign's cache does.
 *
 *   cc -O2 -o sign_baseline sign_baseline.c -lcrypto && ./sign_baseline [seconds]
 * Prints `c-oss-v1 RATE` and `c-oss-v4 RATE` (policies per second, one thread).
 * `./sign_baseline nCOUNT` signs exactly COUNT policies of each kind (for callgrind).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *SECRET = "bench-secret-not-a-real-key-0000000000";
static const char *AKID = "LTAI5tBenchBenchBench00";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hex(const unsigned char *in, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) { out[2 * i] = d[in[i] >> 4]; out[2 * i + 1] = d[in[i] & 15]; }
    out[2 * n] = 0;
}

static void hmac256(const unsigned char *key, size_t klen, const char *msg, unsigned char out[32]) {
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* One V1 form: policy, base64, HMAC-SHA1, base64. Returns the signature's length. */
static size_t sign_v1(long i) {
    char policy[512], b64[700], sig[64];
    unsigned char mac[20];
    unsigned int maclen = 20;
    int n = snprintf(policy, sizeof policy,
        "{\"expiration\":\"2027-01-01T00:05:00.000Z\",\"conditions\":[{\"bucket\":\"examplebucket\"},"
        "[\"eq\",\"$key\",\"avatars/bench-user/%ld-0f8fad5b-d9cb-469f-a165-70867728950e.jpg\"],"
        "[\"content-length-range\",0,1048576000]]}", i);
    int blen = EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)policy, n);
    HMAC(EVP_sha1(), SECRET, (int)strlen(SECRET), (unsigned char *)b64, (size_t)blen, mac, &maclen);
    return (size_t)EVP_EncodeBlock((unsigned char *)sig, mac, (int)maclen);
}

static unsigned char v4key[32];

/* One V4 form with the signing key cached: policy (with the V4 fields), base64, HMAC-SHA256, hex. */
static size_t sign_v4(long i) {
    char policy[768], b64[1100], sig[65];
    unsigned char mac[32];
    unsigned int maclen = 32;
    int n = snprintf(policy, sizeof policy,
        "{\"expiration\":\"2027-01-01T00:05:00.000Z\",\"conditions\":[{\"bucket\":\"examplebucket\"},"
        "{\"x-oss-signature-version\":\"OSS4-HMAC-SHA256\"},"
        "{\"x-oss-credential\":\"%s/20270101/cn-hangzhou/oss/aliyun_v4_request\"},"
        "{\"x-oss-date\":\"20270101T000000Z\"},"
        "[\"eq\",\"$key\",\"avatars/bench-user/%ld-0f8fad5b-d9cb-469f-a165-70867728950e.jpg\"],"
        "[\"content-length-range\",0,1048576000]]}", AKID, i);
    int blen = EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)policy, n);
    HMAC(EVP_sha256(), v4key, 32, (unsigned char *)b64, (size_t)blen, mac, &maclen);
    hex(mac, maclen, sig);
    return strlen(sig);
}

static long fixed_count = -1;

static void run(const char *name, size_t (*sign)(long), double seconds) {
    size_t sink = 0;
    for (long i = 0; i < 1000; i++) sink += sign(i);
    if (fixed_count >= 0) {
        for (long i = 0; i < fixed_count; i++) sink += sign(i);
        printf("%s %ld iterations%s\n", name, fixed_count, sink == 42 ? " " : "");
        return;
    }
    long count = 0;
    double start = now(), elapsed;
    do {
        for (int k = 0; k < 2000; k++) sink += sign(count++);
        elapsed = now() - start;
    } while (elapsed < seconds);
    printf("%s %ld\n", name, (long)(count / elapsed));
    if (sink == 42) printf("\n");
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2;
    if (argc > 1 && argv[1][0] == 'n') fixed_count = atol(argv[1] + 1);
    unsigned char k1[32], k2[32], k3[32];
    char first[128];
    snprintf(first, sizeof first, "aliyun_v4%s", SECRET);
    hmac256((unsigned char *)first, strlen(first), "20270101", k1);
    hmac256(k1, 32, "cn-hangzhou", k2);
    hmac256(k2, 32, "oss", k3);
    hmac256(k3, 32, "aliyun_v4_request", v4key);
    run("c-oss-v1", sign_v1, seconds);
    run("c-oss-v4", sign_v4, seconds);
    return 0;
}
