"""The S3 tests' moto server, and its control channel.

Starts moto (with IAM enforced: every request must be signed by a user whose policies allow
it) on 127.0.0.1 and a free port, creates an administrator during the few unauthenticated
actions moto allows (INITIAL_NO_AUTH_ACTION_COUNT), prints {"port", "admin"} as one JSON line,
then serves one JSON command per stdin line with one JSON answer per stdout line. Exits when
stdin closes, so the server never outlives the test process that started it.
"""

import base64
import json
import os
import sys

# Exactly the three IAM calls below run without credentials; everything after is signed.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

REGION = "us-east-1"


def main():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    endpoint = f"http://127.0.0.1:{port}"

    def client(service, key_id="unused", secret="unused"):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    iam = client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(
        UserName="admin",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    iam = client("iam", admin["id"], admin["secret"])
    s3 = client("s3", admin["id"], admin["secret"])
    kms = client("kms", admin["id"], admin["secret"])
    print(json.dumps({"port": port, "admin": admin}), flush=True)

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = run(json.loads(line), iam, s3, kms)
        except Exception as e:  # answered, so the test shows moto's error
            answer = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), flush=True)
    os._exit(0)


def run(cmd, iam, s3, kms):
    op = cmd["op"]
    if op == "bucket":
        s3.create_bucket(Bucket=cmd["name"])
        return {}
    if op == "user":
        iam.create_user(UserName=cmd["name"])
        iam.put_user_policy(
            UserName=cmd["name"],
            PolicyName="policy",
            PolicyDocument=json.dumps(cmd["policy"]),
        )
        key = iam.create_access_key(UserName=cmd["name"])["AccessKey"]
        return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    if op == "kms_key":
        return {"id": kms.create_key()["KeyMetadata"]["KeyId"]}
    if op == "put":
        s3.put_object(
            Bucket=cmd["bucket"], Key=cmd["key"], Body=base64.b64decode(cmd["body"])
        )
        return {}
    if op == "dump":
        objects = {}
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=cmd["bucket"]):
            for o in page.get("Contents", []):
                got = s3.get_object(Bucket=cmd["bucket"], Key=o["Key"])
                objects[o["Key"]] = {
                    "body": base64.b64encode(got["Body"].read()).decode(),
                    "content_type": got.get("ContentType"),
                    "content_encoding": got.get("ContentEncoding"),
                    "sse": got.get("ServerSideEncryption"),
                    "kms_key": got.get("SSEKMSKeyId"),
                }
        return {"objects": objects}
    return {"error": f"unknown op {op}"}


if __name__ == "__main__":
    main()
