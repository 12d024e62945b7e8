"""Call the Ekuaibao Open API with a token from ekuaibao-token-vending, from Python.

The service is called with SigV4 for `execute-api` (botocore's signer and credential chain, the
same ones boto3 uses). When Ekuaibao rejects the token (HTTP 403), the token is reported to the
service, whose answer is the token to use instead, and the call is retried once.

    TOKEN_VENDING_API_URL=https://abc123.execute-api.eu-west-1.amazonaws.com/v1 \
    EKUAIBAO_BASE_URL=https://app.ekuaibao.com \
    python3 get_token.py acme /api/openapi/v1/staffs

It prints the Ekuaibao call's status and the token's expiry, never the token: tokens do not
belong in logs or terminals.
"""
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

RETRYABLE = {429, 503}
DEADLINE_SECONDS = 30


class TokenVendingError(Exception):
    def __init__(self, status, code, request_id):
        super().__init__(f"{status} {code} (requestId {request_id})")
        self.status, self.code, self.request_id = status, code, request_id


def call_service(api_url, method, path, body=None):
    """One signed request to the service, retrying 429/503 after Retry-After until the deadline."""
    url = api_url.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    region = os.environ.get("AWS_REGION") or session.get_config_variable("region")
    deadline = time.monotonic() + DEADLINE_SECONDS
    for attempt in range(10):
        request = AWSRequest(method=method, url=url, data=data,
                             headers={"Content-Type": "application/json"} if data else {})
        if credentials is not None:
            # Signs the method, path, host and body hash; adds X-Amz-Security-Token for sessions.
            SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        prepared = request.prepare()
        http_request = urllib.request.Request(prepared.url, data=prepared.body,
                                              headers=dict(prepared.headers), method=method)
        try:
            with urllib.request.urlopen(http_request, timeout=max(1, deadline - time.monotonic())) as response:
                return json.load(response)
        except urllib.error.HTTPError as failure:
            error = json.load(failure).get("error", {})
            retry_after = float(failure.headers.get("Retry-After") or 0)
            wait = max(retry_after, random.uniform(0, 0.2 * 2 ** attempt))
            if failure.code not in RETRYABLE or time.monotonic() + wait > deadline:
                raise TokenVendingError(failure.code, error.get("code"), error.get("requestId")) from None
            time.sleep(wait)
    raise TokenVendingError(503, "DEADLINE_EXCEEDED", None)


def get_token(api_url, tenant_id):
    return call_service(api_url, "GET", f"/tenants/{tenant_id}/token")


def report_rejected(api_url, tenant_id, access_token):
    """Reports a token Ekuaibao rejected; the answer is the token to use instead."""
    return call_service(api_url, "POST", f"/tenants/{tenant_id}/token/invalidate", {"accessToken": access_token})


def ekuaibao_get(base_url, path, access_token):
    # The token goes in the query string, URL-encoded (tokens may contain ':'). Never log this URL.
    query = urllib.parse.urlencode({"accessToken": access_token})
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}{path}?{query}", timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as failure:
        return failure.code, None


def main(tenant_id, path):
    api_url = os.environ["TOKEN_VENDING_API_URL"]
    base_url = os.environ.get("EKUAIBAO_BASE_URL", "https://app.ekuaibao.com")
    token = get_token(api_url, tenant_id)
    status, _ = ekuaibao_get(base_url, path, token["accessToken"])
    reported = False
    if status == 403:
        token = report_rejected(api_url, tenant_id, token["accessToken"])
        reported = True
        status, _ = ekuaibao_get(base_url, path, token["accessToken"])
    print(json.dumps({"status": status, "reported": reported, "expireTime": token["expireTime"]}))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
