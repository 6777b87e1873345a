"""The Lambda stand-in's execution environments, as the Lambda developer guide's "Lambda execution environment
lifecycle" describes them: Init once, then Invoke many in the same process (module globals kept); a fresh
environment after a crash, a timeout or an error; one environment per concurrent invocation; each invocation with
its own variables and output; none left once their owner ends."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_dataexchange_auto_export.local.assembly import LambdaFunction
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.lambda_bootstrap import CRASH, VIRTUAL_CLOCK, VirtualClock
from cdk_dataexchange_auto_export.local.lambda_runtime import Execution, InvocationTimeoutError, LambdaRuntime

ARN = "arn:aws:lambda:us-east-1:123456789012:function:probe"
# A handler that says what its environment holds: how many invocations its module has seen, its process, and the
# variables of this invocation; it sleeps, fails or prints on request.
HANDLER = """
import json, os, time

INVOCATIONS = 0


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise RuntimeError("failed on purpose")
    print(json.dumps({
        "invocations": INVOCATIONS,
        "pid": os.getpid(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "extra": os.environ.get("PER_INVOCATION"),
        "request": context.aws_request_id,
    }))
"""


@pytest.fixture
def function(tmp_path: Path) -> LambdaFunction:
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "probe.py").write_text(textwrap.dedent(HANDLER))
    return LambdaFunction("Probe", asset, "probe.handler", timeout_seconds=1, memory_mb=128, environment={})


@pytest.fixture
def runtime() -> Iterator[LambdaRuntime]:
    with LambdaRuntime(Path(sys.executable), {}) as runtime:
        yield runtime


def seen(execution: Execution) -> dict[str, Any]:
    """What the handler printed of its environment."""
    assert execution.error is None, execution.output
    (line,) = execution.output.splitlines()
    return dict(json.loads(line))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_warm_environment_keeps_module_globals_and_reports_init_only_on_its_cold_start(
    runtime: LambdaRuntime, function: LambdaFunction
) -> None:
    first = runtime.invoke(function, ARN, {})
    second = runtime.invoke(function, ARN, {})

    assert (seen(first)["invocations"], seen(second)["invocations"]) == (1, 2)
    assert seen(first)["pid"] == seen(second)["pid"]
    assert "init_seconds" in first.stats
    assert "init_seconds" not in second.stats
    assert {"invoke_seconds", "max_rss_kb"} <= second.stats.keys()
    # Each invocation its own trace header and request id, and its own output only
    assert seen(first)["trace"] != seen(second)["trace"]
    assert seen(first)["request"] != seen(second)["request"]


@pytest.mark.parametrize("ending", ["crash", "error", "timeout", "virtual-timeout"])
def test_an_environment_that_crashed_failed_or_timed_out_is_followed_by_a_cold_start(
    runtime: LambdaRuntime, function: LambdaFunction, tmp_path: Path, ending: str
) -> None:
    if ending == "virtual-timeout":
        runtime.environment[VIRTUAL_CLOCK] = VirtualClock(str(tmp_path / "clock")).path
    warm = seen(runtime.invoke(function, ARN, {}))

    if ending == "crash":
        ended = runtime.invoke(function, ARN, {}, {CRASH: "1"})
        assert ended.error is not None and "signal: killed" in ended.error["errorMessage"]
    elif ending == "error":
        ended = runtime.invoke(function, ARN, {"fail": True})
        assert ended.error is not None and ended.error["errorMessage"] == "failed on purpose"
        assert "RuntimeError: failed on purpose" in ended.output
    elif ending == "timeout":
        with pytest.raises(InvocationTimeoutError):
            runtime.invoke(function, ARN, {"sleep": 30})
    else:
        ended = runtime.invoke(function, ARN, {"sleep": 30})
        assert ended.error == {"errorMessage": "Task timed out after 1.00 seconds"}
        assert ended.virtual_seconds == pytest.approx(1.0)
    after = runtime.invoke(function, ARN, {})

    assert seen(after)["invocations"] == 1
    assert seen(after)["pid"] != warm["pid"]
    assert "init_seconds" in after.stats
    assert not alive(warm["pid"])


def test_concurrent_invocations_run_in_environments_of_their_own(
    runtime: LambdaRuntime, function: LambdaFunction
) -> None:
    executions: list[Execution] = []

    def invoke() -> None:
        executions.append(runtime.invoke(function, ARN, {"sleep": 0.5}))

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({seen(execution)["pid"] for execution in executions}) == 2
    assert [seen(execution)["invocations"] for execution in executions] == [1, 1]


def test_the_variables_of_one_invocation_are_not_seen_by_the_next(
    runtime: LambdaRuntime, function: LambdaFunction
) -> None:
    runtime.environment["PER_INVOCATION"] = "the runtime's"
    first = seen(runtime.invoke(function, ARN, {}, {"PER_INVOCATION": "the first's"}))
    second = seen(runtime.invoke(function, ARN, {}))

    assert second["pid"] == first["pid"]
    assert (first["extra"], second["extra"]) == ("the first's", "the runtime's")


def test_the_variables_of_one_invocation_are_removed_after_it(runtime: LambdaRuntime, function: LambdaFunction) -> None:
    first = seen(runtime.invoke(function, ARN, {}, {"PER_INVOCATION": "the first's"}))
    second = seen(runtime.invoke(function, ARN, {}))

    assert second["pid"] == first["pid"]
    assert (first["extra"], second["extra"]) == ("the first's", None)


def test_no_environment_is_left_once_the_runtime_or_the_account_serving_it_ends(function: LambdaFunction) -> None:
    with LambdaRuntime(Path(sys.executable), {}) as runtime:
        by_runtime = seen(runtime.invoke(function, ARN, {}))["pid"]
    with OfflineAws() as aws:
        served = LambdaRuntime(Path(sys.executable), aws.environment())
        aws.lambda_.serve(lambda name: None, served)
        by_account = seen(served.invoke(function, ARN, {}))["pid"]
        assert alive(by_account)

    assert not alive(by_runtime)
    assert not alive(by_account)
    # What runs after that still runs, in an environment that ends with it
    after = seen(served.invoke(function, ARN, {}))["pid"]
    assert not alive(after)
