"""The props both constructs share, declared once (`ExportProps`), yet each a typed keyword of both constructors.

mypy checks this file as it checks the package (tests/test_code_quality.py): every `type: ignore[...]` below must
silence exactly the error it names, or mypy reports it as unused. So a shared prop that lost its keyword or its
type on either constructor fails the tests, as it would stop showing in a user's IDE.
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportProduct, ExportProps

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
PRODUCT = "prod-uexample0abc1d"
SHARED = {
    "bucket",
    "key_pattern",
    "encryption_key",
    "tags",
    "removal_policy",
    "adopt_existing",
    "export_existing_revisions",
    "alert_topic",
    "provider",
}


def wrongly_typed(stack: cdk.Stack, bucket: s3.IBucket) -> None:
    """Never run: what a type checker (and an IDE) says of a value of the wrong type for each shared prop."""
    AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket="my-bucket")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "B", data_set_id=DATA_SET, bucket=bucket, key_pattern=1)  # type: ignore[arg-type]
    AutoExportEventAction(stack, "C", data_set_id=DATA_SET, bucket=bucket, encryption_key="alias/aws/s3")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "D", data_set_id=DATA_SET, bucket=bucket, tags=["team"])  # type: ignore[arg-type]
    AutoExportEventAction(stack, "E", data_set_id=DATA_SET, bucket=bucket, removal_policy="retain")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "F", data_set_id=DATA_SET, bucket=bucket, adopt_existing="yes")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "G", data_set_id=DATA_SET, bucket=bucket, export_existing_revisions="ALL")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "H", data_set_id=DATA_SET, bucket=bucket, alert_topic="arn:aws:sns:eu-west-1:1:t")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "I", data_set_id=DATA_SET, bucket=bucket, provider=stack)  # type: ignore[arg-type]
    AutoExportEventAction(stack, "J", data_set_id=DATA_SET)  # type: ignore[call-arg]
    AutoExportEventAction(stack, "K", data_set_id=DATA_SET, bucket=bucket, bukcet=bucket)  # type: ignore[call-arg]
    AutoExportProduct(stack, "A", product_id=PRODUCT, bucket="my-bucket")  # type: ignore[arg-type]
    AutoExportProduct(stack, "B", product_id=PRODUCT, bucket=bucket, key_pattern=1)  # type: ignore[arg-type]
    AutoExportProduct(stack, "C", product_id=PRODUCT, bucket=bucket, encryption_key="alias/aws/s3")  # type: ignore[arg-type]
    AutoExportProduct(stack, "D", product_id=PRODUCT, bucket=bucket, tags=["team"])  # type: ignore[arg-type]
    AutoExportProduct(stack, "E", product_id=PRODUCT, bucket=bucket, removal_policy="retain")  # type: ignore[arg-type]
    AutoExportProduct(stack, "F", product_id=PRODUCT, bucket=bucket, adopt_existing="yes")  # type: ignore[arg-type]
    AutoExportProduct(stack, "G", product_id=PRODUCT, bucket=bucket, export_existing_revisions="ALL")  # type: ignore[arg-type]
    AutoExportProduct(stack, "H", product_id=PRODUCT, bucket=bucket, alert_topic="arn:aws:sns:eu-west-1:1:t")  # type: ignore[arg-type]
    AutoExportProduct(stack, "I", product_id=PRODUCT, bucket=bucket, provider=stack)  # type: ignore[arg-type]
    AutoExportProduct(stack, "J", product_id=PRODUCT)  # type: ignore[call-arg]
    AutoExportProduct(stack, "K", product_id=PRODUCT, bucket=bucket, bukcet=bucket)  # type: ignore[call-arg]


def test_the_shared_props_are_the_ones_declared_once() -> None:
    assert set(ExportProps.__annotations__) == SHARED


@pytest.mark.parametrize(
    ("name", "make"),
    [
        (
            "AutoExportEventAction",
            lambda s, **props: AutoExportEventAction(s, "E", data_set_id=DATA_SET, **props),
        ),
        ("AutoExportProduct", lambda s, **props: AutoExportProduct(s, "E", product_id=PRODUCT, **props)),
    ],
)
def test_a_misspelled_or_missing_keyword_fails_at_synth_naming_it(
    new_cdk_app: Callable[..., cdk.App], name: str, make: Callable[..., object]
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Misspelled")
    bucket = s3.Bucket(stack, "Destination")

    with pytest.raises(TypeError, match=rf"{name}\(\) got an unexpected keyword argument 'bukcet'"):
        make(stack, bucket=bucket, bukcet=bucket)
    with pytest.raises(TypeError, match=rf"{name}\(\) missing 1 required keyword-only argument: 'bucket'"):
        make(stack)
