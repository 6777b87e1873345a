"""Runs one handler invocation the way the Lambda Python runtime would, in a separate process.

Started as `python -I -B lambda_bootstrap.py ASSET_DIR HANDLER TIMEOUT_MS STATS_FILE FUNCTION_ARN` with the
event on stdin, by a Python whose environment holds only boto3: with -I neither PYTHONPATH, the user site
nor this file's folder is importable, so the handler sees the standard library, boto3 and the
asset, as in AWS. Standard library only.
"""

import importlib
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
import uuid

# Set by the offline Lambda service to end this invocation as an out-of-memory kill would, once the handler
# is loaded: the process dies by SIGKILL, with nothing reported.
CRASH = "OFFLINE_LAMBDA_CRASH"


class LambdaContext:
    """What the runtime passes as `context`, from the environment the runner sets as Lambda would."""

    def __init__(self, timeout_ms: int, function_arn: str) -> None:
        function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    asset_dir, handler, timeout_ms, stats_file, function_arn = sys.argv[1:6]
    event = json.load(sys.stdin)
    # The Lambda runtime gives the root logger a handler on stdout; without one, INFO logs vanish.
    logging.basicConfig(stream=sys.stdout, format="[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s")
    sys.path.insert(0, asset_dir)
    started = time.perf_counter()
    module_name, function_name = handler.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    ready = time.perf_counter()
    if os.environ.get(CRASH):
        os.kill(os.getpid(), signal.SIGKILL)
    error = None
    try:
        function(event, LambdaContext(int(timeout_ms), function_arn))
    except Exception as unhandled:
        # What the runtime reports of an unhandled error, and prints to the function's log.
        error = {
            "errorMessage": str(unhandled),
            "errorType": type(unhandled).__name__,
            "stackTrace": traceback.format_tb(unhandled.__traceback__),
        }
        traceback.print_exc()
    finished = time.perf_counter()
    with open(stats_file, "w") as stats:
        json.dump(
            {
                "init_seconds": ready - started,
                "invoke_seconds": finished - ready,
                "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "error": error,
            },
            stats,
        )


if __name__ == "__main__":
    main()
