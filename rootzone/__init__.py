"""The local copy of the root zone (RFC 8806): load, verify, hold and retire it.

Today this package owns the root hints (the fallback that is always there);
the local root copy itself arrives with the local-root issue.
"""
