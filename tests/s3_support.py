"""A real S3-compatible server for the tests: moto's standalone server on 127.0.0.1.

`MotoS3.start()` runs `python -m moto.server` (the `moto[server]` dev dependency) in a child
process with IAM authentication on: the first few requests create a user, its policy and its
access key, after which every request must be signed with that key, so wrong credentials are
refused as a real store would refuse them. `env()` is what a client (pyarrow, boto3, MLflow, a
driver subprocess, the Ray nodes it starts) needs to reach it. The server is stopped by its PID.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

REGION = "us-east-1"
BUCKET = "prixfixe"
SETUP_REQUESTS = 3  # create_user, put_user_policy, create_access_key: then auth is enforced
ALLOW_ALL = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", '
             '"Resource": "*"}]}')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoS3:
    """One moto server process, its access key and one bucket."""

    port: int = field(default_factory=free_port)
    key_id: str = ""
    secret: str = ""
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoS3:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        self._make_user()
        self.client().create_bucket(Bucket=BUCKET)
        return self

    def _make_user(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION,
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="prixfixe-tests")
        iam.put_user_policy(UserName="prixfixe-tests", PolicyName="all",
                            PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName="prixfixe-tests")["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def env(self, **override: str) -> dict[str, str]:
        """Environment variables that point pyarrow, boto3 and MLflow at this server."""
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_ENDPOINT_URL": self.endpoint, "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true", **override}

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3://{BUCKET}", *parts])

    def client(self):  # noqa: ANN201 (a boto3 client)
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)

    def keys(self, prefix: str) -> list[str]:
        """Object keys under `prefix` (relative to the bucket), sorted; without the empty
        `dir/` markers pyarrow leaves when it deletes an object (no reader looks at them)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                        Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", [])
                      if not obj["Key"].endswith("/"))
