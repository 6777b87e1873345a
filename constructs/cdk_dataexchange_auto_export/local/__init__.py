"""The local kit (`pip install "cdk-dataexchange-auto-export[local]"`): a CDK app's stack of AutoExportEventActions
and AutoExportProducts, deployed into a local AWS account with no AWS account and no CDK CLI, for the command line
(`dataexchange-local`) and for the user's own tests (`LocalDataExchange`).

Its stand-ins (Data Exchange in `endpoints/`, CloudFormation's part, a Lambda-like runtime and service, EventBridge's
default bus, IAM's policy evaluation) follow AWS's documentation, not the handler: of the handler's package they read
only `contract`, the names the construct and the handler share.
"""

from .api import Activity, Deployed, Destroyed, Drifted, LocalDataExchange, Published, Request
from .errors import LocalError

__all__ = ["Activity", "Deployed", "Destroyed", "Drifted", "LocalDataExchange", "LocalError", "Published", "Request"]
