"""The contract between the construct (CDK side) and the handler (Lambda side): every name both are written
against, spelled once. The construct writes these into the template; CloudFormation, EventBridge and Lambda
carry them to the handler and the worker, which read them back.

Standard library only: the construct imports it at synth, where boto3 may be missing.
"""

from __future__ import annotations

from typing import Final

# --- the custom resources -------------------------------------------------------------------------

EVENT_ACTION_RESOURCE_TYPE: Final = "Custom::DataExchangeEventAction"
PRODUCT_RESOURCE_TYPE: Final = "Custom::DataExchangeProductAutoExport"
RESOURCE_TYPES: Final = (EVENT_ACTION_RESOURCE_TYPE, PRODUCT_RESOURCE_TYPE)


class Property:
    """The resource properties, as the template names them (CloudFormation sends every value as a string)."""

    DATA_SET_ID: Final = "DataSetId"
    PRODUCT_ID: Final = "ProductId"
    BUCKET: Final = "Bucket"
    KEY_PATTERN: Final = "KeyPattern"
    KMS_KEY_ARN: Final = "KmsKeyArn"
    TAGS: Final = "Tags"
    ADOPT_EXISTING: Final = "AdoptExisting"
    EXPORT_EXISTING_REVISIONS: Final = "ExportExistingRevisions"
    # CloudFormation's own, passed along with a resource's.
    SERVICE_TOKEN: Final = "ServiceToken"
    SERVICE_TIMEOUT: Final = "ServiceTimeout"
    # Set only by a repair deploy (REPAIR_CONTEXT): a new value is a change of properties, so CloudFormation sends
    # the resource an Update, which brings its event action back to the properties. The handler reads nothing else
    # of it.
    REPAIR: Final = "Repair"


class Attribute:
    """What `Fn::GetAtt` reads of the resources (the handler's response `Data`)."""

    ARN: Final = "Arn"
    ID: Final = "Id"
    CREATED_AT: Final = "CreatedAt"
    UPDATED_AT: Final = "UpdatedAt"
    PRODUCT_ID: Final = "ProductId"
    DATA_SET_IDS: Final = "DataSetIds"
    EVENT_ACTION_COUNT: Final = "EventActionCount"
    DATA_SET_COUNT: Final = "DataSetCount"


class Metadata:
    """What the construct writes into its custom resource's Metadata: the resource's properties again (its tags
    included, those of ``Tags.of`` too). CloudFormation resolves Metadata as it resolves properties, and answers it
    to DescribeStackResource: it is how the handler reads what the stack deployed when no CloudFormation request
    carries it (a reconcile after the deploy, a drift check)."""

    KEY: Final = "cdk-dataexchange-auto-export"
    PROPERTIES: Final = "ResourceProperties"
    # The construct's path, which aws-cdk-lib writes into every resource's Metadata unless path metadata is off.
    CDK_PATH: Final = "aws:cdk:path"


# The context a repair deploy sets (`cdk deploy -c KEY=VALUE`): comma-separated entries LOGICAL_ID@NONCE, each giving
# that resource of ours the property Repair=NONCE. A drift report names the command with a nonce of its own.
REPAIR_CONTEXT: Final = "@cdk-dataexchange-auto-export/repair"

# The value of ExportExistingRevisions that asks for every existing revision (otherwise: a number).
ALL_REVISIONS: Final = "ALL"
# A data set holds at most this many revisions (the service's quota), so no backfill asks for more.
MAX_REVISIONS: Final = 10_000

# --- whom an event action belongs to ----------------------------------------------------------------

# Tags on every event action the handler makes or adopts: a repeated Create finds its own by them.
STACK_ID_TAG: Final = "cdk-dataexchange-auto-export:stack-id"
LOGICAL_ID_TAG: Final = "cdk-dataexchange-auto-export:logical-id"
# A product's event actions carry a third: the product they export a data set of.
PRODUCT_ID_TAG: Final = "cdk-dataexchange-auto-export:product-id"
OWNER_TAGS: Final = (STACK_ID_TAG, LOGICAL_ID_TAG, PRODUCT_ID_TAG)
# Not an owner's: the backfill that exports an event action's existing revisions follows its chain of invocations
# in this tag of the event action (`backfill.Claim`). The handler's reconciles keep it.
BACKFILL_TAG: Final = "cdk-dataexchange-auto-export:backfill"
# Every tag the package keeps on an event action: they take that many of the service's 50.
PACKAGE_TAGS: Final = (*OWNER_TAGS, BACKFILL_TAG)

# --- what the handler and the worker tell EventBridge ------------------------------------------------

# The source of every event the package itself puts on the default bus.
EVENT_SOURCE: Final = "cdk-dataexchange-auto-export"


class DetailType:
    """The detail types of the package's own events (source EVENT_SOURCE)."""

    BACKFILL_COMPLETED: Final = "Backfill Completed"
    BACKFILL_FAILED: Final = "Backfill Failed"
    PRODUCT_DATA_SETS_ADDED: Final = "Product Data Sets Added"
    PRODUCT_RECONCILED: Final = "Product Reconciled"
    PRODUCT_RECONCILE_FAILED: Final = "Product Reconcile Failed"
    # An event action no longer as the stack deployed it (or its data set no longer entitled): found by the drift
    # check, or found and restored by a product's reconcile.
    DRIFT_DETECTED: Final = "Export Drift Detected"


class Detail:
    """Fields of the details of those events that the construct's rules and messages read. Like Data Exchange's
    own auto-export events, each lists the data sets and revisions it concerns, so one rule serves both."""

    DATA_SET_IDS: Final = "DataSetIds"
    REVISION_IDS: Final = "RevisionIds"
    # Why a backfill or a reconcile failed, in a sentence.
    REASON: Final = "Reason"
    DATA_SET_ID: Final = "DataSetId"
    PRODUCT_ID: Final = "ProductId"
    EVENT_ACTION_COUNT: Final = "EventActionCount"
    # A drift report: which drift (a DriftKind), of which resource of which stack (its logical id, and its construct
    # path), the event action concerned, what the stack deployed and what was found (each in a sentence), the
    # command that repairs it, and whether a product's reconcile restored it already.
    DRIFT: Final = "Drift"
    STACK_ID: Final = "StackId"
    LOGICAL_ID: Final = "LogicalResourceId"
    PATH: Final = "ConstructPath"
    EVENT_ACTION_ID: Final = "EventActionId"
    EXPECTED: Final = "Expected"
    FOUND: Final = "Found"
    REPAIR: Final = "RepairCommand"
    RESTORED: Final = "Restored"


class DriftKind:
    """What a drift report says happened (`Detail.DRIFT`)."""

    # The event action the stack deployed no longer exists.
    DELETED: Final = "EventActionDeleted"
    # It exports elsewhere (bucket, key pattern, encryption), or on another data set, than the stack deployed.
    CHANGED: Final = "EventActionChanged"
    # The account is no longer entitled to the data set it exports.
    NOT_ENTITLED: Final = "DataSetNotEntitled"


# Data Exchange's own source and the detail types the construct's rules match (its user guide, "EventBridge
# events for AWS Data Exchange"). The guide spells the failure "Auto-Export job failed" in an example: rules
# match them ignoring case.
DATA_EXCHANGE_SOURCE: Final = "aws.dataexchange"
AUTO_EXPORT_COMPLETED: Final = "Auto-export Job Completed"
AUTO_EXPORT_FAILED: Final = "Auto-export Job Failed"
DATA_SETS_PUBLISHED: Final = "Data Sets Published To Product"

# What Lambda's EventBridge destination calls the record of an invocation that failed for good.
INVOCATION_FAILED_DETAIL_TYPE: Final = "Lambda Function Invocation Result - Failure"

# --- requests that are not CloudFormation's ---------------------------------------------------------


class ReconcileRequest:
    """The event the construct's rules send the handler to reconcile a product after the deploy:
    ``{KEY: {STACK_ID: ..., LOGICAL_ID: ..., TRIGGER: ...}}``. The handler reads the rest from the stack
    (`Metadata`). The trigger says what a difference from the properties means: drift, or the work expected."""

    KEY: Final = "ProductReconcile"
    STACK_ID: Final = "StackId"
    LOGICAL_ID: Final = "LogicalResourceId"
    TRIGGER: Final = "Trigger"
    # The schedule's (and a request without a trigger): whatever it has to restore is drift.
    SCHEDULE: Final = "Scheduled"
    # Data Exchange's event: the data sets it announces have no event action yet, which is no drift.
    PUBLISHED: Final = "Published"
    # The handler's own, for the work a Create or Update left when its time ran short: nothing it does is drift.
    CONTINUATION: Final = "Continuation"


class DriftCheckRequest:
    """The event the provider's schedule sends its handler to check the stack's event actions:
    ``{KEY: {STACK_ID: ..., SERVICE_TOKEN: ...}}``: the resources of the stack the function serves (their
    ServiceToken, in the Metadata the construct writes)."""

    KEY: Final = "DriftCheck"
    STACK_ID: Final = "StackId"
    SERVICE_TOKEN: Final = "ServiceToken"


# The handler's environment variable that names the backfill worker (set when the stack has one).
BACKFILL_FUNCTION_VARIABLE: Final = "BACKFILL_FUNCTION"
# The worker's environment variable that names its stack (the stack's id): a backfill ends with its stack.
WORKER_STACK_VARIABLE: Final = "BACKFILL_STACK_ID"
