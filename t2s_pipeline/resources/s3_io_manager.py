"""The directory IO manager with its S3 settings taken from a dagster-aws `S3Resource`.

A separate module because importing dagster_aws costs about 0.8 s: definitions.py imports it only when
T2S_ENV=s3, so a local code location loads as fast as before.
"""

from __future__ import annotations

from dagster_aws.s3 import S3Resource
from pydantic import Field

from t2s_pipeline.resources.storage import DirectoryIOManager


class S3DirectoryIOManager(DirectoryIOManager):
    """DirectoryIOManager on s3://, the endpoint, region and credentials read from a nested S3Resource
    (give the keys as dg.EnvVar so their values never appear in config, logs or metadata). A field set
    on the IO manager itself (s3_endpoint_url, aws_access_key_id, aws_secret_access_key) wins."""

    s3: S3Resource = Field(description="dagster-aws S3 settings: endpoint_url, region_name, aws_access_key_id, "
                                       "aws_secret_access_key, aws_session_token. Unset ones fall back to the "
                                       "standard AWS chain (environment, profiles, instance roles).")

    @property
    def storage_options(self) -> dict[str, object]:
        s3 = self.s3
        options: dict[str, object] = {"endpoint_url": s3.endpoint_url, "key": s3.aws_access_key_id,
                                      "secret": s3.aws_secret_access_key, "token": s3.aws_session_token}
        options = {k: v for k, v in options.items() if v}
        if s3.region_name:
            options["client_kwargs"] = {"region_name": s3.region_name}
        return {**options, **super().storage_options}
