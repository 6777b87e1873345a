"""The cold-start floor: what any Python handler that talks to Data Exchange pays before it is ready. The benchmark
invokes it like our handler, so the bootstrap's `init_seconds` times its import (boto3 and a client) the same way."""

import boto3

CLIENT = boto3.client("dataexchange")


def handler(event: object, context: object) -> None:
    """Nothing: the floor is the import."""
