"""Run an Ansible module's main() in-process and return its JSON result."""

import contextlib
import io
import json

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19: the classic _ANSIBLE_ARGS pattern
    from unittest import mock

    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args):
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            yield


try:
    from ansible.module_utils import _internal as _module_internal
except ImportError:  # ansible-core < 2.19 has no such switch
    _module_internal = None


@contextlib.contextmanager
def _on_a_target():
    """Run as a module runs on a managed host.

    Once any test imports controller code (a filter or inventory plugin),
    ansible-core marks the process as the controller and sends module
    warnings to its Display instead of the module's result; the module tests
    read them from the result, so the flag is put back for the run.
    """
    if _module_internal is None or not hasattr(_module_internal, "is_controller"):
        yield
        return
    saved = _module_internal.is_controller
    _module_internal.is_controller = False
    try:
        yield
    finally:
        _module_internal.is_controller = saved


def run_module(module, args, check=False, diff=False):
    """Run `module.main()` with `args` (check and diff mode on request); return its JSON result."""
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    out = io.StringIO()
    with _on_a_target(), patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.main()
    return json.loads(out.getvalue())
