# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every AWS module; must match
    # plugins/module_utils/aws.py aws_argument_spec(). Modules take
    # pgha.cloud.aws and pgha.cloud.aws.region; the EC2 inventory plugin takes
    # a list of regions of its own, so it uses pgha.cloud.aws alone.
    # (Plain string literals: ansible-test's yamllint reads them.)
    DOCUMENTATION = r"""
options:
  profile:
    description:
      - Named profile from C(~/.aws/config) / C(~/.aws/credentials).
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - AWS access key ID. Give it with O(secret_key), or neither of them to use a profile,
        the environment or the instance role.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key for O(access_key).
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - Session token for temporary credentials.
    type: str
    aliases: [aws_session_token]
  endpoint_url:
    description:
      - URL of the AWS API to talk to instead of the public regional endpoint, for example a VPC
        interface endpoint or a moto server (C(http://127.0.0.1:5000)).
    type: str
  max_attempts:
    description:
      - Attempts per API call in botocore's C(standard) retry mode (throttling and transient
        errors are retried with backoff); V(1) means no retry.
    type: int
    default: 3
  connect_timeout:
    description:
      - Seconds to wait for a connection to the API.
    type: float
    default: 3
  read_timeout:
    description:
      - Seconds to wait for an API answer.
    type: float
    default: 10
requirements:
  - boto3 and botocore (pinned in the collection's C(requirements.txt))
"""

    REGION = r"""
options:
  region:
    description:
      - AWS region, for example C(eu-west-1).
      - When not given, boto3 takes it from C(AWS_REGION) / C(AWS_DEFAULT_REGION) or the profile;
        the module fails naming this option when none of them sets one.
    type: str
    aliases: [aws_region]
"""
