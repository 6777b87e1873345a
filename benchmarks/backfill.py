"""The backfill at scale, offline. Revisions are seeded into a local Data Exchange (in memory: saving a state file
on every request would dominate), and the stack of stacks.py's `backfill` kind (one construct, ExistingRevisions.ALL)
is deployed through OfflineAws: the custom resource and the worker run from the same staged asset in the Lambda-like
runtime, a fresh process per invocation (`reuse=False`: every figure a cold start, as before warm reuse), the
worker handing over to itself through the local Lambda Invoke.
Measured: the worker's Data Exchange calls, its invocations and hand-over payloads, its peak memory and its end
event; and how long the Create takes to answer with revisions waiting (it starts the worker, never waits for it)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint
from cdk_dataexchange_auto_export.local.lambda_runtime import access_key_of
from dataexchange_auto_export_handler.contract import EVENT_SOURCE as BACKFILL_SOURCE
from tools.toolchain import LAMBDA_PYTHON

from . import BenchmarkError
from .backfill_time import ChainResults, run_time_benchmark
from .measure import SAMPLE_SECONDS, STACK_NAME, Progress, Sampler, high_water_kb, synthesize
from .stacks import data_set_id

# The data set the backfill stack's one construct exports (stacks.py gives each construct a data set of its own).
DATA_SET_ID = data_set_id(0)
WORKER_HANDLER = "dataexchange_auto_export_handler.worker.handler"
SEEDED, QUICK_SEEDED, CREATE_SEEDED = 10_000, 2_000, 1_000
# A local export job ends after this many requests to the endpoint (its clock): 10,000 jobs take minutes rather
# than the hours they would in AWS, yet one is still running when the worker goes on to create the next.
JOB_TICKS = 3
# The worker's timeout here instead of the template's 15 minutes: it hands over with a quarter of it left, so a
# backfill of thousands of revisions hands over about once per thousand within the run, as a long one would in AWS.
WORKER_TIMEOUT_SECONDS = 15
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # Lambda's limit on an asynchronous invocation's payload
PAGING = ("ListJobs", "ListDataSetRevisions")
COUNTED = ("Exported", "Skipped", "Failed")  # of the end event's detail


@dataclass(frozen=True)
class BackfillResults:
    seeded: int
    memory_mb: int  # the worker's MemorySize, from the template
    seconds: float  # from the deploy's start to the worker's last invocation's end
    calls: dict[str, int]  # the worker's Data Exchange calls, by operation, most first
    errors: int  # of those, answered with an error
    payload_bytes: dict[int, int]  # invocation number -> its payload, as JSON (1: the custom resource's)
    peak_kb: int  # VmHWM, the largest of the worker's processes, sampled
    outcome: str  # the end event's detail-type
    counts: dict[str, int]  # Exported, Skipped and Failed, from the end event's detail
    create_seconds: list[float]  # each Create with CREATE_SEEDED revisions seeded, process start to response
    chains: list[ChainResults]  # backfills in virtual time, with export jobs as long as in AWS

    @property
    def exported(self) -> int:
        return self.counts["Exported"]

    @property
    def outcome_text(self) -> str:
        """The end event as a person reads it: "Backfill Completed: 10,000 exported, 0 skipped, 0 failed"."""
        return f"{self.outcome}: " + ", ".join(f"{n:,} {name.lower()}" for name, n in self.counts.items())

    @property
    def hand_overs(self) -> dict[int, int]:
        """The payloads the worker sent itself (invocation 1's came from the custom resource)."""
        return {number: size for number, size in self.payload_bytes.items() if number > 1}

    def per_revision(self, *operations: str) -> float:
        """Calls of these operations (default: all) per exported revision."""
        return sum(self.calls.get(name, 0) for name in operations or self.calls) / max(self.exported, 1)


def _seeded(count: int) -> OfflineAws:
    """The offline services, their Data Exchange holding `count` finalized revisions of one small asset each."""
    endpoint = DataExchangeEndpoint(job_ticks=JOB_TICKS)
    for number in range(count):
        endpoint.add_revision(DATA_SET_ID, [f"prices/{number:05d}.csv"])
    return OfflineAws(dataexchange=endpoint)


def _create_seconds(stack: SynthesizedStack, state_file: Path) -> float:
    """The Create's time, process start to response, with CREATE_SEEDED revisions seeded; the stack is destroyed
    at once, which stops the worker (its event action is gone)."""
    with (
        _seeded(CREATE_SEEDED) as aws,
        aws.cloudformation(stack, state_file, aws.runtime(LAMBDA_PYTHON, reuse=False)) as cloudformation,
    ):
        cloudformation.deploy()
        cloudformation.destroy()
        aws.lambda_.wait()
    [create] = [call for call in cloudformation.invocations if call.request["RequestType"] == "Create"]
    return create.execution.seconds


def run_backfill_benchmark(
    seeded: int, runs: int, chain_runs: tuple[tuple[int, int], ...], workdir: Path, progress: Progress
) -> BackfillResults:
    """`runs` Creates with CREATE_SEEDED revisions seeded, each destroyed at once (which stops its worker); then one
    backfill of `seeded` revisions to its end, with the worker's memory sampled; then the backfills of `chain_runs`
    (revisions, seconds per job) in virtual time (`backfill_time`)."""
    progress("backfill: synth of stacks.py backfill N=1")
    outdir = workdir / "backfill"
    synthesize("backfill", 1, outdir)
    stack = SynthesizedStack(outdir, STACK_NAME)
    functions = stack.of_type("AWS::Lambda::Function")
    [worker] = [key for key in functions if stack.function(key).handler == WORKER_HANDLER]
    creates = []
    for run in range(runs):
        progress(f"backfill: Create with {CREATE_SEEDED} revisions seeded, {run + 1}/{runs}")
        creates.append(_create_seconds(stack, workdir / f"create-{run}.json"))
    progress(f"backfill: {seeded} revisions, jobs of {JOB_TICKS} ticks, worker timeout {WORKER_TIMEOUT_SECONDS} s")
    with _seeded(seeded) as aws:
        runtime = aws.runtime(LAMBDA_PYTHON, timeouts={worker: WORKER_TIMEOUT_SECONDS}, reuse=False)
        with (
            aws.cloudformation(stack, workdir / "backfill.json", runtime) as cloudformation,
            Sampler(lambda: high_water_kb(WORKER_HANDLER.encode()), SAMPLE_SECONDS) as sampler,
        ):
            started = time.perf_counter()
            cloudformation.deploy()
            invocations = aws.lambda_.wait()
            seconds = time.perf_counter() - started
        events = [event for event in aws.bus.events if event["source"] == BACKFILL_SOURCE]
        caller = access_key_of(cloudformation.function_arn(worker))
        calls = [call for call in aws.dataexchange.calls if call.caller == caller]
    # A worker invocation that failed for good comes back as Lambda's failure record (no cursor): a failed run
    failed = [invocation for invocation in invocations if "invocation" not in invocation.payload]
    if failed:
        raise BenchmarkError(f"a worker invocation failed for good: {json.dumps(failed[0].payload)[:600]}")
    if len(events) != 1 or any(invocation.execution is None for invocation in invocations):
        final = invocations[-1] if invocations else None
        output = "no invocation" if final is None else final.execution.output if final.execution else str(final.error)
        last = output.strip()[-300:]
        raise BenchmarkError(f"the backfill of {seeded} revisions sent {len(events)} end event(s); at last: {last}")
    [event] = events
    return BackfillResults(
        seeded=seeded,
        memory_mb=stack.function(worker).memory_mb,
        seconds=seconds,
        calls=dict(Counter(call.operation for call in calls).most_common()),
        errors=sum(call.status >= 400 for call in calls),
        payload_bytes={
            int(invocation.payload["invocation"]): len(json.dumps(invocation.payload).encode())
            for invocation in invocations
        },
        peak_kb=sampler.peak_kb,
        outcome=event["detail-type"],
        counts={key: int(event["detail"][key]) for key in COUNTED},
        create_seconds=creates,
        chains=run_time_benchmark(chain_runs, stack.function(worker).memory_mb, workdir, progress),
    )
