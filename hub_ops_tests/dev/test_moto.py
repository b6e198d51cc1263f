"""The moto server of the local stack answers as S3 and STS do."""

from __future__ import annotations

import boto3

from hub_ops_dev.stack.moto import MOTO_ACCOUNT, MotoServer


def test_s3_round_trip_and_caller_identity(aws_env: MotoServer, s3_bucket: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env.endpoint)
    s3.put_object(Bucket=s3_bucket, Key="homes/ada/notes.txt", Body=b"hello")
    body = s3.get_object(Bucket=s3_bucket, Key="homes/ada/notes.txt")["Body"].read()
    assert body == b"hello"
    # AWS_ENDPOINT_URL (the SDK's standard variable) alone sends a default client there
    identity = boto3.client("sts").get_caller_identity()
    assert identity["Account"] == MOTO_ACCOUNT
