"""boto3's generate_presigned_post, the common S3 signer, on one thread: `boto3-s3-v4 RATE`.

Same upload as the Swift and C benchmarks (exact key, size range); no network is touched.
Usage: python boto3_post.py [seconds]
"""
import sys
import time

import boto3

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="LTAI5tBenchBenchBench00",
                      aws_secret_access_key="bench-secret-not-a-real-key-0000000000")


def sign(i: int) -> dict:
    key = f"avatars/bench-user/{i}-0f8fad5b-d9cb-469f-a165-70867728950e.jpg"
    return client.generate_presigned_post("examplebucket", key, Conditions=[["content-length-range", 0, 1048576000]],
                                          ExpiresIn=300)


for i in range(200):
    sign(i)
count, start = 0, time.monotonic()
while (elapsed := time.monotonic() - start) < seconds:
    for _ in range(100):
        sign(count)
        count += 1
print(f"boto3-s3-v4 {int(count / elapsed)}")
