"""Privilege drop: checked before anything starts, refused when it cannot happen."""

from __future__ import annotations

import os
import pwd

import pytest

from resolver.privileges import PrivilegeError, drop_privileges, lookup_user


def test_no_user_means_no_change() -> None:
    before = (os.getuid(), os.getgid())
    drop_privileges("")
    assert (os.getuid(), os.getgid()) == before


def test_an_unknown_user_is_refused_by_name() -> None:
    with pytest.raises(PrivilegeError, match="no user named 'no-such-user-here'"):
        lookup_user("no-such-user-here")


def test_root_is_not_a_user_to_drop_to() -> None:
    with pytest.raises(PrivilegeError, match="is root"):
        lookup_user(pwd.getpwuid(0).pw_name)


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the drop would really happen")
def test_without_root_only_the_current_user_is_accepted() -> None:
    drop_privileges(pwd.getpwuid(os.geteuid()).pw_name)  # nothing to do
    other = next((e for e in pwd.getpwall() if e.pw_uid not in (0, os.geteuid())), None)
    if other is None:
        pytest.skip("no other user on this machine")
    with pytest.raises(PrivilegeError, match="not root"):
        drop_privileges(other.pw_name)
