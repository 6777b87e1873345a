"""AWS's public unit prices the benchmark turns a backfill's usage into, in one place, with where and when they were
read: us-east-1 (N. Virginia), on-demand, before the free tier and any savings plan."""

from __future__ import annotations

from typing import Final

# Consulted on this date, from AWS's pricing pages (the URLs below), as stored copies of them show.
READ: Final = "2026-12-07"
# aws.amazon.com/lambda/pricing: requests, and duration on Arm (the worker's arm64) for the first 7.5 billion
# GB-seconds of a month. Lambda bills a function's duration, waits included, in 1 ms steps.
LAMBDA_PER_REQUEST: Final = 0.20 / 1_000_000
LAMBDA_ARM_PER_GB_SECOND: Final = 0.0000133334
# aws.amazon.com/eventbridge/pricing: custom events put on a bus (the end event), per 64 KB chunk.
EVENTBRIDGE_PER_EVENT: Final = 1.00 / 1_000_000
# aws.amazon.com/step-functions/pricing: a Standard workflow's state transitions, for the comparison in
# CONTRIBUTING ("The backfill's chain").
STEP_FUNCTIONS_PER_TRANSITION: Final = 0.025 / 1_000
# Data Exchange charges nothing for its API calls; the S3 requests and storage of the exported objects are the
# same however the revisions get there, so neither is counted.
# aws.amazon.com/cloudwatch/pricing: Logs, Standard class: ingestion, and storage per GB-month (a log group's
# retention keeps about a month's logs when it is 30 days).
LOGS_PER_GB_INGESTED: Final = 0.50
LOGS_PER_GB_MONTH_STORED: Final = 0.03
