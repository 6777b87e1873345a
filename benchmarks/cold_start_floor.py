"""The cold-start floor: what any Python handler that talks to Data Exchange pays before it is ready.

Started as `python -I cold_start_floor.py` by the Lambda-like interpreter (boto3 only). It imports
what offline/lambda_bootstrap.py imports before that starts its clock, then times the same span
the bootstrap's `init_seconds` covers, with the bare minimum in it: `import boto3` and one Data
Exchange client. Prints {"init_seconds": ..., "peak_rss_kb": ...}, the peak being VmHWM, which unlike
ru_maxrss does not include what the parent had resident when it started this process. Linux only;
standard library and boto3 only.
"""

import importlib  # noqa: F401  (imported before the clock, as in the bootstrap)
import json
import logging
import resource  # noqa: F401  (imported before the clock, as in the bootstrap)
import sys
import time
import uuid  # noqa: F401  (imported before the clock, as in the bootstrap)


def main() -> None:
    logging.basicConfig(stream=sys.stdout)
    started = time.perf_counter()
    import boto3

    boto3.client("dataexchange", region_name="us-east-1")
    ready = time.perf_counter()
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"init_seconds": ready - started, "peak_rss_kb": peak_kb}))


if __name__ == "__main__":
    main()
