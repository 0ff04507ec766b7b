"""kubexec's command line accepts what PRRTE and users pass to ssh."""

from __future__ import annotations

import pytest

from launchers.kubexec.sshopts import UsageError, parse_args


def test_prrte_style_call():
    cmd = "PRTE_PREFIX=/x;export PRTE_PREFIX;/x/bin/prted --prtemca ess env --tree-spawn"
    opts = parse_args(["-x", "node1", cmd])
    assert opts.host == "node1" and opts.command == [cmd]
    assert opts.remote_command == ["/bin/sh", "-c", cmd]


def test_words_are_joined_with_single_spaces_like_ssh():
    opts = parse_args(["pod", "echo", "a  b", "c"])
    assert opts.remote_command == ["/bin/sh", "-c", "echo a  b c"]


def test_no_command_runs_a_shell_reading_stdin():
    assert parse_args(["pod"]).remote_command == ["/bin/sh"]


def test_flags_bundles_and_values():
    opts = parse_args(["-xTqn4", "-oStrictHostKeyChecking=no", "-o", "ConnectTimeout 7",
                       "-p22", "-l", "mpiuser", "-i", "key", "-F", "cfg", "-E", "log",
                       "-c", "aes128-ctr", "-vv", "pod", "true"])
    assert opts.host == "pod" and opts.command == ["true"]
    assert opts.no_stdin and opts.quiet and opts.verbose == 2
    assert opts.connect_timeout == 7.0 and opts.user == "mpiuser"
    assert opts.ssh_options["stricthostkeychecking"] == "no"
    assert opts.container is None  # -c is ssh's cipher, not a container


def test_options_after_host_until_the_command_like_ssh():
    opts = parse_args(["pod", "-n", "-t", "ls", "-l"])
    assert opts.no_stdin and opts.command == ["ls", "-l"]


def test_user_at_host_and_long_options():
    opts = parse_args(["--namespace=ns", "--container", "c2", "--no-guard",
                       "--kubeconfig", "kc", "u@pod", "id"])
    assert (opts.host, opts.user, opts.namespace, opts.container, opts.kubeconfig) == (
        "pod", "u", "ns", "c2", "kc")
    assert opts.no_guard


def test_double_dash_ends_options():
    opts = parse_args(["--", "pod", "-x"])
    assert opts.host == "pod" and opts.command == ["-x"]


def test_help_needs_no_host():
    assert parse_args(["--help"]).help


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "no host"),
        (["-Z", "pod"], "unknown option -Z"),
        (["--bogus", "pod"], "unknown option --bogus"),
        (["pod", "-p"], "needs a value"),
        (["--namespace"], "needs a value"),
        (["-o", "ConnectTimeout=soon", "pod"], "ConnectTimeout"),
        (["--no-guard=1", "pod"], "takes no value"),
    ],
)
def test_usage_errors(args, match):
    with pytest.raises(UsageError, match=match):
        parse_args(args)


@pytest.mark.parametrize("args", [["", "true"], ["-x", "", "echo", "hi"], ["--", ""],
                                  ["user@", "true"]])
def test_empty_host_is_refused_not_skipped(args):
    """Defect 8: `kubexec "" cmd` used to take the next word as the host."""
    with pytest.raises(UsageError, match="empty host name"):
        parse_args(args)
