"""Giving up root once the ports are bound (``--user``, ``[server] user``).

Port 53 needs root or CAP_NET_BIND_SERVICE, and nothing after the bind
does: the resolver binds its listening sockets, its control socket and its
metrics endpoint, then becomes ``user`` for good, as Unbound's ``username``
does. Files written later (the local root's ``zonefile``) must be writable
by that user; systemd's ``StateDirectory=`` arranges that in
``contrib/holdfast.service``.
"""

from __future__ import annotations

import logging
import os
import pwd

from resolver.errors import ConfigError

log = logging.getLogger("holdfast")


class PrivilegeError(ConfigError):
    """The configured user does not exist, or we could not become it."""


def lookup_user(name: str) -> pwd.struct_passwd:
    """The password entry of ``name``, checked before anything is started.

    Raises:
        PrivilegeError: no such user, or it is root (that would drop nothing).
    """
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PrivilegeError(f"server.user: no user named {name!r} on this machine") from None
    if entry.pw_uid == 0:
        raise PrivilegeError(f"server.user: {name!r} is root; name an unprivileged user")
    return entry


def drop_privileges(name: str) -> None:
    """Become ``name`` (its uid, its primary group, no supplementary groups).

    Does nothing when ``name`` is empty. When we are not root, only the same
    user is accepted (there is nothing to drop). Irreversible: afterwards
    ``setuid(0)`` must fail, and we check that it does.

    Raises:
        PrivilegeError: the user is unknown, or we are neither root nor it.
    """
    if not name:
        return
    entry = lookup_user(name)
    if os.geteuid() != 0:
        if os.geteuid() == entry.pw_uid:
            return
        raise PrivilegeError(
            f"server.user: cannot become {name!r}: started as uid {os.geteuid()}, not root"
        )
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        log.info("running as %s (uid %d, gid %d)", name, entry.pw_uid, entry.pw_gid,
                 extra={"event": "privileges_dropped", "user": name})
        return
    raise PrivilegeError(f"server.user: could still regain root after becoming {name!r}")
