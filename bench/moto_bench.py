"""The bench's S3-compatible server and its bucket chores, with the moto venv's boto3.

    python moto_bench.py serve              moto on 127.0.0.1 and a free port (no IAM: any
                                            keys pass); prints the port, serves until killed
    python moto_bench.py bucket NAME        creates the bucket
    python moto_bench.py count NAME         prints "objects records bytes" of every object in
                                            it (records: the length of each page's "tickets")
    python moto_bench.py drop NAME          deletes every object, then the bucket

Every command but serve reads the endpoint from AWS_ENDPOINT_URL_S3 and the dummy credentials
and region from the usual AWS_* variables, as the measured programs do.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        config=Config(s3={"addressing_style": "path"}),
    )


def serve():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    while True:
        time.sleep(3600)


def keys(s3, bucket):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            yield o["Key"], o["Size"]


def count(bucket):
    s3 = client()
    objects = records = size = 0
    for key, n in keys(s3, bucket):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        records += len(json.loads(body).get("tickets", []))
        objects += 1
        size += n
    print(objects, records, size)


def drop(bucket):
    s3 = client()
    batch = []
    for key, _ in keys(s3, bucket):
        batch.append({"Key": key})
        if len(batch) == 1000:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
            batch = []
    if batch:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
    s3.delete_bucket(Bucket=bucket)


def main():
    op, args = sys.argv[1], sys.argv[2:]
    if op == "serve":
        serve()
    elif op == "bucket":
        client().create_bucket(Bucket=args[0])
    elif op == "count":
        count(args[0])
    elif op == "drop":
        drop(args[0])
    else:
        sys.exit(f"unknown command {op}")


if __name__ == "__main__":
    main()
