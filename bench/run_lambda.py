"""Runs the guide's Lambda (pagination fixed) once, as AWS would: imports the module, calls
lambda_handler({}, None), prints its summary as JSON. Its settings come from the environment
(S3_BUCKET, ZENDESK_*, RESOURCES, MAX_PAGES, LOOKBACK_SECONDS, AWS_*); scripts/bench sets them.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zendesk_crm_to_s3_pagination_fixed as lambda_module  # noqa: E402

print(json.dumps(lambda_module.lambda_handler({}, None)))
